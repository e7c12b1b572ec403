"""Audit use cases, and the events intelligence loads and syncs record."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from medwarden.audit import GENESIS, AuditEvent, EventDraft, seal
from medwarden.core.clock import FixedClock
from medwarden.errors import IntelFetchError, IntelParseError, UsageError, VerificationError
from medwarden.intel.model import KevEntry, Source
from medwarden.services.audit import recent, record, verify
from medwarden.services.intel_load import load_paths, store_batches
from medwarden.services.ports import AuditLog
from medwarden.store import open_store

FIXTURES = Path(__file__).parents[1] / "fixtures" / "intel"
CLOCK = FixedClock(datetime(2026, 11, 25, 9, 30, tzinfo=UTC))


class MemoryAuditLog:
    """An in-memory :class:`AuditLog` (a list), to test services without a database."""

    def __init__(self) -> None:
        self.stored: list[AuditEvent] = []

    def append(self, draft: EventDraft) -> AuditEvent:
        """Seal and keep ``draft``."""
        seq, head = self.head()
        self.stored.append(seal(draft, seq + 1, head))
        return self.stored[-1]

    def events(self, after_seq: int = 0) -> Iterator[AuditEvent]:
        """Yield the kept events after ``after_seq``."""
        return (e for e in self.stored if e.seq > after_seq)

    def head(self) -> tuple[int, str]:
        """The last event's seq and hash."""
        return (self.stored[-1].seq, self.stored[-1].hash) if self.stored else (0, GENESIS)


def _draft(subject: str) -> EventDraft:
    return EventDraft(
        at=CLOCK.now(),
        actor="bob",
        action="sbom.import",
        subject_type="release",
        subject_id=subject,
    )


def test_memory_log_is_an_audit_log() -> None:
    """The test double satisfies the port the services depend on."""
    log: AuditLog = MemoryAuditLog()
    assert log.head() == (0, GENESIS)


def test_record_verify_and_recent() -> None:
    """Recorded events verify, and ``recent`` lists the last N in seq order."""
    log = MemoryAuditLog()
    for n in range(5):
        record(log, _draft(f"R-{n}"))
    assert verify(log).count == 5
    assert [e.seq for e in recent(log, 2)] == [4, 5]
    assert [e.seq for e in recent(log, 50)] == [1, 2, 3, 4, 5]
    with pytest.raises(UsageError):
        recent(log, 0)


def test_verify_names_a_tampered_event() -> None:
    """The service reports the first broken event of the stored chain."""
    log = MemoryAuditLog()
    for n in range(3):
        record(log, _draft(f"R-{n}"))
    del log.stored[1]
    with pytest.raises(VerificationError, match="audit event 2 is missing"):
        verify(log)


def test_intel_load_records_one_event_with_counts(tmp_path: Path) -> None:
    """Each audited load appends one intel.load event: actor, paths and counts per source."""
    log = MemoryAuditLog()
    paths = [FIXTURES / "kev" / "known_exploited_vulnerabilities.json", FIXTURES / "osv"]
    with open_store(str(tmp_path / "s.db")) as store:
        report = load_paths(store, paths, clock=CLOCK, workers=0, audit=log, actor="alice")
        load_paths(store, paths[:1], clock=CLOCK, workers=0, audit=log, actor="alice")
    first, second = log.stored
    assert (first.action, first.actor, first.at) == ("intel.load", "alice", CLOCK.now())
    assert first.subject_type == "intel_mirror"
    assert first.subject_id == ",".join(sorted(report.counts))
    assert first.after is not None
    assert first.after["outcome"] == "completed"
    assert first.after["paths"] == [str(p.resolve()) for p in paths]
    assert first.after["records"] == report.records
    assert first.after["counts"]["kev"]["inserted"] == report.counts["kev"].inserted > 0
    assert second.after is not None
    assert second.after["counts"]["kev"]["unchanged"] > 0
    assert verify(log).count == 2


def test_a_failed_load_is_recorded_then_raised(tmp_path: Path) -> None:
    """A load stopped by a malformed file still leaves an intel.load event marked failed."""
    bad = tmp_path / "broken.json"
    bad.write_text('{"vulnerabilities": [')
    log = MemoryAuditLog()
    with (
        open_store(str(tmp_path / "s.db")) as store,
        pytest.raises(IntelParseError),
    ):
        load_paths(store, [bad], clock=CLOCK, workers=0, audit=log, actor="alice")
    (event,) = log.stored
    assert event.after is not None
    assert event.after["outcome"] == "failed"
    assert event.after["error"]["code"] == IntelParseError.code


def test_an_audited_load_needs_an_actor(tmp_path: Path) -> None:
    """Passing an audit log without an actor is refused before anything is written."""
    with open_store(str(tmp_path / "s.db")) as store:
        with pytest.raises(UsageError, match="actor"):
            load_paths(store, [FIXTURES / "osv"], clock=CLOCK, audit=MemoryAuditLog())
        assert store.status() == []


def test_loads_without_an_audit_log_record_nothing(tmp_path: Path) -> None:
    """Existing callers that pass no audit log keep working unchanged."""
    with open_store(str(tmp_path / "s.db")) as store:
        load_paths(store, [FIXTURES / "osv"], clock=CLOCK, workers=0)
        assert store.audit.head() == (0, GENESIS)


@dataclass(frozen=True)
class _Batch:
    source: Source
    records: tuple[KevEntry, ...]
    cursor: str | None


def _kev_batch() -> _Batch:
    entry = KevEntry(
        cve_id="CVE-2021-44228",
        vendor="Apache",
        product="Log4j2",
        name="Log4Shell",
        date_added=datetime(2021, 12, 10, tzinfo=UTC),
    )
    return _Batch(Source.KEV, (entry,), "2026-11-25")


def test_sync_records_one_event_per_feed(tmp_path: Path) -> None:
    """store_batches appends one intel.sync event naming the feed, cursor and counts."""
    log = MemoryAuditLog()
    with open_store(str(tmp_path / "s.db")) as store:
        store_batches(store, [_kev_batch()], clock=CLOCK, cursor_key="kev", audit=log, actor="cron")
    (event,) = log.stored
    assert (event.action, event.actor, event.subject_id) == ("intel.sync", "cron", "kev")
    assert event.after is not None
    assert event.after["feed"] == "kev"
    assert event.after["cursor"] == "2026-11-25"
    assert event.after["counts"] == {"kev": {"inserted": 1, "updated": 0, "unchanged": 0}}


def test_a_failed_sync_is_recorded_with_what_was_stored(tmp_path: Path) -> None:
    """A fetch error after some batches records the partial counts as a failed intel.sync."""

    def batches() -> Iterator[_Batch]:
        yield _kev_batch()
        raise IntelFetchError("feed went away")

    log = MemoryAuditLog()
    with open_store(str(tmp_path / "s.db")) as store, pytest.raises(IntelFetchError):
        store_batches(store, batches(), clock=CLOCK, cursor_key="kev", audit=log, actor="cron")
    (event,) = log.stored
    assert event.after is not None
    assert event.after["outcome"] == "failed"
    assert event.after["counts"]["kev"]["inserted"] == 1
