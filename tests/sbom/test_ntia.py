"""The NTIA minimum-elements report flags exactly what each component lacks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from medwarden.sbom.model import Component, Dependency, Sbom, SbomFormat
from medwarden.sbom.ntia import NtiaElement, ntia_report
from medwarden.sbom.reading import read_sbom_file

SBOMS = Path(__file__).parents[1] / "fixtures" / "sboms"


def test_alpine_fixture_lacks_supplier_on_exactly_two_components() -> None:
    """In the syft alpine SBOM exactly the two components without a publisher lack a supplier."""
    report = ntia_report(read_sbom_file(SBOMS / "alpine-3.17-syft.cdx-1.4.xml").sbom)
    flagged = {c.display_name for c in report.missing(NtiaElement.SUPPLIER)}
    assert flagged == {"busybox@1.35.0", "alpine@3.17.2"}
    assert dict(report.present_counts)[NtiaElement.SUPPLIER] == 14


def _sbom(components: tuple[Component, ...], **fields: object) -> Sbom:
    return Sbom(SbomFormat.CYCLONEDX_JSON, "1.6", components, **fields)  # type: ignore[arg-type]


def test_complete_component_has_nothing_missing() -> None:
    """A component with supplier, version, purl, an edge, SBOM author and time is complete."""
    full = Component("a", "a", "1", purl="pkg:npm/a@1", supplier="ACME")
    bare = Component("b", "b")
    sbom = _sbom(
        (full, bare),
        dependencies=(Dependency("root", ("a",)),),
        root_ref="root",
        authors=("Dana",),
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
    )
    report = ntia_report(sbom)
    first, second = report.components
    assert first.complete
    assert second.missing == (
        NtiaElement.SUPPLIER,
        NtiaElement.VERSION,
        NtiaElement.UNIQUE_IDENTIFIER,
        NtiaElement.DEPENDENCY_RELATIONSHIP,
    )
    assert (report.total, report.complete_count, report.conformant) == (2, 1, False)


def test_document_elements_missing_apply_to_every_component() -> None:
    """Without author and timestamp every component misses both document-level elements."""
    report = ntia_report(_sbom((Component("a", "a", "1", cpes=("cpe:/a:x:a:1",)),)))
    assert NtiaElement.AUTHOR in report.components[0].missing
    assert NtiaElement.TIMESTAMP in report.components[0].missing
    assert NtiaElement.UNIQUE_IDENTIFIER not in report.components[0].missing


def test_empty_sbom_is_not_conformant() -> None:
    """An SBOM without components is never reported as conformant."""
    assert not ntia_report(_sbom(())).conformant
