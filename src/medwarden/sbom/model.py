"""The normalised SBOM model every reader produces and every consumer reads.

Readers (``medwarden.sbom.readers``) turn CycloneDX and SPDX documents into these
frozen values; nothing downstream sees a library type or raw document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "Component",
    "Dependency",
    "Hash",
    "IssueSeverity",
    "Sbom",
    "SbomFormat",
    "SbomReadResult",
    "ValidationIssue",
]


class SbomFormat(StrEnum):
    """Document formats medwarden reads; values are the names used in the CLI and output."""

    CYCLONEDX_JSON = "cyclonedx-json"
    CYCLONEDX_XML = "cyclonedx-xml"
    SPDX_JSON = "spdx-json"
    SPDX_TAG_VALUE = "spdx-tag-value"


class IssueSeverity(StrEnum):
    """How serious a validation issue is: errors break the schema, warnings are advice."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One schema or consistency problem, located by JSON pointer and/or line."""

    message: str
    pointer: str | None = None
    line: int | None = None
    severity: IssueSeverity = IssueSeverity.ERROR

    def __str__(self) -> str:
        where = []
        if self.pointer is not None:
            where.append(self.pointer or "/")
        if self.line is not None:
            where.append(f"line {self.line}")
        prefix = f"{' '.join(where)}: " if where else ""
        return f"{prefix}{self.message}"


@dataclass(frozen=True, slots=True)
class Hash:
    """A content digest of a component: algorithm as the SBOM names it, hex value."""

    algorithm: str
    value: str


@dataclass(frozen=True, slots=True)
class Component:
    """One component (CycloneDX component, SPDX package) of an SBOM.

    ``ref`` is the document-local identifier (CycloneDX ``bom-ref``, SPDX ``SPDXID``);
    readers synthesise a stable one when the document has none.  ``cpes`` holds every
    CPE the document gives (CycloneDX has one, SPDX may list several).
    """

    ref: str
    name: str
    version: str | None = None
    group: str | None = None
    purl: str | None = None
    cpes: tuple[str, ...] = ()
    supplier: str | None = None
    component_type: str | None = None
    hashes: tuple[Hash, ...] = ()
    licenses: tuple[str, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()

    @property
    def display_name(self) -> str:
        """``group/name@version`` for people."""
        base = f"{self.group}/{self.name}" if self.group else self.name
        return f"{base}@{self.version}" if self.version else base

    def property(self, name: str) -> str | None:
        """Return the first value of property ``name``, or ``None``."""
        return next((v for k, v in self.properties if k == name), None)


@dataclass(frozen=True, slots=True)
class Dependency:
    """A dependency edge set: ``ref`` depends directly on each of ``depends_on``."""

    ref: str
    depends_on: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Sbom:
    """A whole SBOM: document metadata, components and dependency relations."""

    format: SbomFormat
    spec_version: str
    components: tuple[Component, ...]
    dependencies: tuple[Dependency, ...] = ()
    serial_number: str | None = None
    name: str | None = None
    version: str | None = None
    root_ref: str | None = None
    authors: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    timestamp: datetime | None = None
    source: str | None = None

    def component(self, ref: str) -> Component | None:
        """Return the component with document-local id ``ref``."""
        return next((c for c in self.components if c.ref == ref), None)


@dataclass(frozen=True, slots=True)
class SbomReadResult:
    """What a reader returns: the SBOM and the issues found while reading it."""

    sbom: Sbom
    issues: tuple[ValidationIssue, ...] = field(default=())
