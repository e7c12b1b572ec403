"""NTIA minimum elements of an SBOM, checked per component.

The seven data fields of "The Minimum Elements For a Software Bill of Materials"
(NTIA, July 2021, https://www.ntia.gov/report/2021/minimum-elements-software-bill-materials-sbom):
supplier name, component name, version, other unique identifiers, dependency
relationship, author of SBOM data and timestamp.  Here a unique identifier is a
purl, a CPE or a hash; a component has a dependency relationship when it appears
in a dependency edge (either end, or as the root of the SBOM); the SBOM author
counts as present when the document names an author or a generating tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from medwarden.sbom.model import Component, Sbom

__all__ = ["ComponentNtia", "NtiaElement", "NtiaReport", "ntia_report"]


class NtiaElement(StrEnum):
    """The seven NTIA minimum data fields, in the order the NTIA report lists them."""

    SUPPLIER = "supplier"
    NAME = "name"
    VERSION = "version"
    UNIQUE_IDENTIFIER = "unique-identifier"
    DEPENDENCY_RELATIONSHIP = "dependency-relationship"
    AUTHOR = "author"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True, slots=True)
class ComponentNtia:
    """Which minimum elements one component has; ``missing`` lists the absent ones."""

    ref: str
    display_name: str
    present: frozenset[NtiaElement]
    missing: tuple[NtiaElement, ...]

    @property
    def complete(self) -> bool:
        """True when the component has all seven minimum elements."""
        return not self.missing


@dataclass(frozen=True, slots=True)
class NtiaReport:
    """Per-component presence of the minimum elements, with counts per element."""

    components: tuple[ComponentNtia, ...]
    present_counts: tuple[tuple[NtiaElement, int], ...]

    @property
    def total(self) -> int:
        """How many components were checked."""
        return len(self.components)

    @property
    def complete_count(self) -> int:
        """How many components have all seven minimum elements."""
        return sum(1 for c in self.components if c.complete)

    @property
    def conformant(self) -> bool:
        """True when the SBOM has components and every one of them is complete."""
        return bool(self.components) and self.complete_count == self.total

    def missing(self, element: NtiaElement) -> tuple[ComponentNtia, ...]:
        """The components that lack ``element``."""
        return tuple(c for c in self.components if element in c.missing)


def _related_refs(sbom: Sbom) -> frozenset[str]:
    refs = {edge.ref for edge in sbom.dependencies if edge.depends_on}
    refs.update(target for edge in sbom.dependencies for target in edge.depends_on)
    if sbom.root_ref is not None and refs:
        refs.add(sbom.root_ref)
    return frozenset(refs)


def _component_elements(component: Component, related: frozenset[str]) -> set[NtiaElement]:
    checks = {
        NtiaElement.SUPPLIER: bool(component.supplier),
        NtiaElement.NAME: bool(component.name),
        NtiaElement.VERSION: bool(component.version),
        NtiaElement.UNIQUE_IDENTIFIER: bool(component.purl or component.cpes or component.hashes),
        NtiaElement.DEPENDENCY_RELATIONSHIP: component.ref in related,
    }
    return {element for element, ok in checks.items() if ok}


def ntia_report(sbom: Sbom) -> NtiaReport:
    """Check every component of ``sbom`` for the seven NTIA minimum elements."""
    related = _related_refs(sbom)
    document = {
        NtiaElement.AUTHOR: bool(sbom.authors or sbom.tools),
        NtiaElement.TIMESTAMP: sbom.timestamp is not None,
    }
    document_present = {element for element, ok in document.items() if ok}
    rows = []
    for component in sbom.components:
        present = frozenset(_component_elements(component, related) | document_present)
        missing = tuple(e for e in NtiaElement if e not in present)
        rows.append(ComponentNtia(component.ref, component.display_name, present, missing))
    counts = tuple((e, sum(1 for r in rows if e in r.present)) for e in NtiaElement)
    return NtiaReport(tuple(rows), counts)
