"""Parallel loading: worker processes give exactly the store a single process gives."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from medwarden.core.clock import FixedClock
from medwarden.intel import files
from medwarden.services.intel_load import load_paths
from medwarden.store.db import open_store

FIXTURES = Path(__file__).parents[1] / "fixtures" / "intel"
CLOCK = FixedClock(datetime(2026, 11, 25, tzinfo=UTC))


@pytest.fixture
def osv_zip(tmp_path: Path) -> Path:
    """An OSV all.zip of the fixture GitHub and Go advisories."""
    path = tmp_path / "all.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for record in sorted((FIXTURES / "osv").glob("*.json")):
            archive.write(record, record.name)
    return path


def _snapshot(db: str, keys: list[tuple[str, str]]) -> dict[str, object]:
    with open_store(db, create=False) as store:
        found = store.advisories_by_package(keys)
        return {
            "status": [(s.source, s.records, s.withdrawn) for s in store.status()],
            "by_package": {k: sorted(a.id for a in v) for k, v in found.items()},
        }


def test_two_workers_store_what_one_process_stores(
    tmp_path: Path, osv_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading NVD files and a zip split in slices with 2 workers equals an inline load."""
    monkeypatch.setattr(files, "ZIP_UNIT_MEMBERS", 7)
    paths = [FIXTURES / "nvd", osv_zip, FIXTURES / "kev" / "known_exploited_vulnerabilities.json"]
    assert len(files.plan_units(osv_zip)) > 3
    inline, parallel = str(tmp_path / "inline.db"), str(tmp_path / "parallel.db")
    with open_store(inline) as store:
        one = load_paths(store, paths, clock=CLOCK, workers=0)
    with open_store(parallel) as store:
        two = load_paths(store, paths, clock=CLOCK, workers=2)
    assert one.counts == two.counts
    assert one.records == two.records > 1_400
    keys = [
        ("npm", "lodash"),
        ("Go", "github.com/opencontainers/runc"),
        ("Maven", "org.yaml:snakeyaml"),
    ]
    assert _snapshot(inline, keys) == _snapshot(parallel, keys)


def test_parallel_reload_is_idempotent(tmp_path: Path, osv_zip: Path) -> None:
    """A second parallel load of the same input changes nothing and counts all unchanged."""
    db = str(tmp_path / "m.db")
    with open_store(db) as store:
        load_paths(store, [osv_zip], clock=CLOCK, workers=2)
        again = load_paths(store, [osv_zip], clock=CLOCK, workers=2)
    assert again.total.inserted == again.total.updated == 0
    assert again.total.unchanged == again.records


def test_worker_parse_error_stops_the_load_with_its_location(tmp_path: Path) -> None:
    """A malformed file parsed in a worker surfaces as the same typed error, file named."""
    from medwarden.errors import IntelParseError

    bad = tmp_path / "in"
    bad.mkdir()
    (bad / "a.json").write_bytes((FIXTURES / "nvd" / "CVE-2022-37434.json").read_bytes())
    (bad / "b.json").write_text('{"id": "GHSA-x", "modified": ')
    with open_store(str(tmp_path / "m.db")) as store, pytest.raises(IntelParseError) as info:
        load_paths(store, [bad], clock=CLOCK, workers=2)
    assert "b.json" in info.value.diagnostics()
