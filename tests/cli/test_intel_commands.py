"""Tests of ``medwarden intel load|status|sync`` and the load service under them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from medwarden.cli.app import app
from medwarden.cli.commands.intel import SyncSource
from medwarden.cli.sync import run_sync
from medwarden.config import Settings
from medwarden.core.clock import FixedClock
from medwarden.errors import UsageError
from medwarden.intel.model import Advisory, EpssScore, KevEntry, Source
from medwarden.services import intel_load
from medwarden.services.intel_load import load_paths, store_batches
from medwarden.services.ports import SourceStatus, UpsertCounts
from tests.cli.conftest import SAMPLE

NOW = datetime(2026, 3, 1, tzinfo=UTC)


class FakeStore:
    """Records what the load service writes; counts everything as inserted."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.cursors: dict[str, tuple[str, datetime]] = {}

    def upsert_advisories(self, advisories: Sequence[Advisory]) -> UpsertCounts:
        self.calls.append(("advisories", len(advisories)))
        return UpsertCounts(inserted=len(advisories))

    def upsert_kev(self, entries: Sequence[KevEntry]) -> UpsertCounts:
        self.calls.append(("kev", len(entries)))
        return UpsertCounts(inserted=len(entries))

    def upsert_epss(self, scores: Sequence[EpssScore]) -> UpsertCounts:
        self.calls.append(("epss", len(scores)))
        return UpsertCounts(inserted=len(scores))

    def set_cursor(self, source: str, cursor: str, at: datetime) -> None:
        self.cursors[source] = (cursor, at)

    def status(self) -> list[SourceStatus]:
        return [SourceStatus("nvd", 1, 0, None, None, cursor="2026-01-01T00:00:00+00:00")]


def test_load_command_prints_counts_per_source(runner: CliRunner, tmp_path: Path) -> None:
    """intel load reports inserted counts per source, then unchanged on a second run."""
    db = str(tmp_path / "m.db")
    first = runner.invoke(app, ["intel", "load", str(SAMPLE / "intel"), "--db", db])
    assert first.exit_code == 0, first.stderr
    assert "kev" in first.stdout
    assert "records/s" in first.stdout
    again = runner.invoke(app, ["intel", "load", str(SAMPLE / "intel" / "kev"), "--db", db])
    assert again.exit_code == 0
    assert "1,404" in again.stdout


def test_load_malformed_file_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    """A malformed intelligence file exits 2 naming the file."""
    bad = tmp_path / "broken.json"
    bad.write_text("{ not json")
    result = runner.invoke(app, ["intel", "load", str(bad), "--db", str(tmp_path / "m.db")])
    assert result.exit_code == 2
    assert "broken.json" in result.stderr


def test_status_lists_sources(runner: CliRunner, loaded_db: str) -> None:
    """intel status lists every loaded source with its record count and exits 0."""
    result = runner.invoke(app, ["intel", "status", "--db", loaded_db])
    assert result.exit_code == 0
    for source in ("nvd", "osv", "kev", "epss"):
        assert source in result.stdout
    assert "warning" not in result.stdout


def test_status_warns_when_stale(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """A source last loaded more than seven days ago gets a yellow warning; exit stays 0."""
    old = NOW - timedelta(days=30)

    class StaleStore(FakeStore):
        def status(self) -> list[SourceStatus]:
            return [SourceStatus("osv", 10, 0, old, old)]

        def __enter__(self) -> StaleStore:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(
        "medwarden.cli.commands.intel.open_intel_store", lambda *_a, **_k: StaleStore()
    )
    result = runner.invoke(app, ["intel", "status", "--db", "unused.db"])
    assert result.exit_code == 0
    assert "warning: osv was last loaded" in result.stdout


def test_load_service_writes_per_unit_and_stamps_load_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """load_paths writes each unit's records per kind and stamps each source's load time."""
    records: list[Any] = [
        Advisory(id=f"CVE-2024-{i}", source=Source.NVD, modified=NOW) for i in range(5)
    ]
    records.append(KevEntry("CVE-2024-1", "v", "p", "n", NOW))
    units = [intel_load.WorkUnit("a"), intel_load.WorkUnit("b")]

    def fake_units(path: Path) -> list[Any]:
        return units

    def fake_iter(unit: Any, *, fetched_at: datetime) -> Iterator[Any]:
        assert fetched_at == NOW
        yield from (records[:3] if unit.path == "a" else records[3:])

    monkeypatch.setattr(intel_load, "plan_units", fake_units)
    monkeypatch.setattr(intel_load, "iter_unit", fake_iter)
    store = FakeStore()
    progress: list[int] = []
    report = load_paths(
        store,
        [Path("x")],
        clock=FixedClock(NOW),
        on_progress=lambda p: progress.append(p.records),
        workers=0,
    )
    assert store.calls == [("advisories", 3), ("advisories", 2), ("kev", 1)]
    assert report.counts["nvd"] == UpsertCounts(inserted=5)
    assert report.total.inserted == 6
    assert progress == [3, 6]
    assert store.cursors["nvd"] == ("2026-01-01T00:00:00+00:00", NOW)
    assert store.cursors["kev"] == ("", NOW)


def test_sync_unavailable_source_is_usage_error() -> None:
    """Syncing a source with no fetch function raises UsageError naming the source."""
    settings = Settings(db=":memory:", db_source="option")
    with pytest.raises(UsageError, match="sync source nvd not available"):
        run_sync(settings, (SyncSource.NVD,), "X", (), feeds={})


def test_sync_osv_needs_ecosystem(runner: CliRunner, tmp_path: Path) -> None:
    """intel sync --source osv without --osv-ecosystem exits 2."""
    result = runner.invoke(
        app, ["intel", "sync", "--source", "osv", "--db", str(tmp_path / "m.db")]
    )
    assert result.exit_code == 2
    assert "--osv-ecosystem" in result.stderr


def test_store_batches_moves_cursor_after_each_batch() -> None:
    """store_batches writes each batch and stores its cursor only when the batch has one."""

    class Batch:
        def __init__(self, records: tuple[Any, ...], cursor: str | None) -> None:
            self.source = Source.KEV
            self.records = records
            self.cursor = cursor

    store = FakeStore()
    batches: Iterable[Any] = [
        Batch((KevEntry("CVE-1", "v", "p", "n", NOW),), None),
        Batch((KevEntry("CVE-2", "v", "p", "n", NOW),), "2026-02-01"),
    ]
    report = store_batches(store, batches, clock=FixedClock(NOW))
    assert report.counts["kev"] == UpsertCounts(inserted=2)
    assert store.cursors == {"kev": ("2026-02-01", NOW)}


def test_sync_with_injected_feed_writes_records(tmp_path: Path) -> None:
    """run_sync drives a feed into a real store and records the cursor."""

    class Batch:
        source = Source.KEV
        records = (KevEntry("CVE-2021-44228", "Apache", "Log4j", "RCE", NOW),)
        cursor = "2026-03-01"

    def feed(_context: Any, _store: Any) -> Iterator[tuple[str, Iterable[Any]]]:
        yield "kev", [Batch()]

    settings = Settings(db=str(tmp_path / "s.db"), db_source="option")
    run_sync(settings, (SyncSource.KEV,), "X", (), feeds={SyncSource.KEV: feed})
    from medwarden.store.db import open_store

    with open_store(settings.db, create=False) as store:
        rows = {r.source: r for r in store.status()}
    assert rows["kev"].records == 1
    assert rows["kev"].cursor == "2026-03-01"
