"""Golden regression tests: every corpus SBOM scanned against all corpus intelligence.

The golden files in ``tests/golden/expected/`` list, per SBOM, exactly the
(component, vulnerability) pairs whose version falls in the records' ranges, with
method and range as evidence, and the components that could not be analysed.  They
were reviewed by hand; the reasoning for the tricky cases is in
``docs/accuracy.md``.  Regenerate with ``MEDWARDEN_REGEN_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from medwarden.core.clock import FixedClock
from medwarden.sbom.reading import read_sbom_file
from medwarden.services.intel_load import load_paths
from medwarden.services.scan import ScanReport, scan_sbom
from medwarden.store.db import SqlStore, open_store
from tests.conftest import postgres_url
from tests.store.conftest import fresh_pg_schema

FIXTURES = Path(__file__).parents[1] / "fixtures"
EXPECTED = Path(__file__).parent / "expected"
SBOMS = sorted(p for p in (FIXTURES / "sboms").rglob("*") if p.suffix in {".json", ".xml"})
CLOCK = FixedClock(datetime(2026, 11, 25, tzinfo=UTC))


GO_VULNDB_ZIP = FIXTURES / "recorded" / "osv" / "Go" / "all.zip"
"""The complete Go vulnerability database (corpus ``osv/bulk``, byte-identical)."""


def intel_paths() -> list[Path]:
    """Every intelligence fixture: NVD, CVE 5, OSV (and the Go bulk zip), KEV, EPSS."""
    root = FIXTURES / "intel"
    return [*sorted(p for p in root.iterdir() if p.is_dir()), GO_VULNDB_ZIP]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def corpus_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlStore]:
    """A store holding all corpus intelligence, on SQLite and on PostgreSQL in turn.

    The same golden files hold for both backends: results must not depend on the database."""
    if request.param == "sqlite":
        with open_store(str(tmp_path_factory.mktemp("golden") / "golden.db")) as store:
            load_paths(store, intel_paths(), clock=CLOCK)
            yield store
        return
    base = postgres_url()
    if base is None:
        pytest.skip("MEDWARDEN_TEST_PG_URL is not set")
    with fresh_pg_schema(base) as url, open_store(url) as store:
        load_paths(store, intel_paths(), clock=CLOCK)
        yield store


def summarise(report: ScanReport) -> dict[str, object]:
    """The golden view of a scan: pairs with evidence, skipped components by reason."""
    components = {c.ref: c for c in report.sbom.components}
    pairs = []
    for finding in report.findings:
        comp = components[finding.component_ref]
        pairs.append(
            {
                "component": comp.display_name,
                "identifier": comp.purl or (comp.cpes[0] if comp.cpes else None),
                "vulnerability": finding.vulnerability_id,
                "ids": list(finding.ids),
                "evidence": sorted(
                    f"{m.evidence.method}:{m.record_id}:{m.evidence.range}" for m in finding.matches
                ),
                "fixed": list(finding.fixed_versions),
                "kev": finding.kev is not None,
                "exploitation": finding.exploitation.value,
            }
        )
    skipped: dict[str, int] = {}
    for skip in report.skipped:
        skipped[skip.reason.value] = skipped.get(skip.reason.value, 0) + 1
    pairs.sort(key=lambda p: (str(p["component"]), str(p["vulnerability"])))
    return {"components": len(report.sbom.components), "findings": pairs, "skipped": skipped}


@pytest.mark.parametrize("sbom_path", SBOMS, ids=[p.parent.name + "/" + p.name for p in SBOMS])
def test_corpus_sbom_matches_golden(corpus_store: SqlStore, sbom_path: Path) -> None:
    """Scanning a corpus SBOM yields exactly the reviewed (component, vulnerability) pairs."""
    report = scan_sbom(read_sbom_file(sbom_path), corpus_store, clock=CLOCK)
    actual = summarise(report)
    folder = EXPECTED / sbom_path.parent.relative_to(FIXTURES / "sboms")
    golden = folder / f"{sbom_path.name}.golden.json"
    if os.environ.get("MEDWARDEN_REGEN_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n")
    assert actual == json.loads(golden.read_text())
