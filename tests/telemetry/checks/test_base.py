"""The shared values: stored records, references, candidates, look-backs, severities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from medwarden.errors import UsageError
from medwarden.telemetry.checks import Candidate, Lookback, RecordRef, Severity, StoredRecord
from medwarden.telemetry.envelope import record_hash
from medwarden.telemetry.records import RecordType
from tests.telemetry.builders import T0, make_record
from tests.telemetry.checks.builders import Trace


def test_stored_record_of_computes_the_hash_and_normalises_time() -> None:
    record = make_record(3)
    local = datetime(2026, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    stored = StoredRecord.of(record, local)
    assert stored.record_hash == record_hash(record)
    assert stored.received_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert stored.ref == RecordRef("boot-1", 3, record_hash(record))
    assert stored.label() == "sensor_reading seq 3 of boot boot-1"


@pytest.mark.parametrize(
    ("hash_", "received"),
    [("ABC", T0), ("0" * 63, T0), ("0" * 64, datetime(2026, 1, 1)), ("0" * 64, "2026")],  # noqa: DTZ001
)
def test_stored_record_refuses_bad_fields(hash_: str, received: object) -> None:
    with pytest.raises(UsageError):
        StoredRecord(make_record(), hash_, received)  # type: ignore[arg-type]


def test_stored_record_needs_a_device_record() -> None:
    with pytest.raises(UsageError):
        StoredRecord("record", "0" * 64, T0)  # type: ignore[arg-type]


def test_severity_ranks_in_order() -> None:
    assert [s.rank for s in Severity] == [0, 1, 2, 3, 4]
    assert Severity("critical") is Severity.CRITICAL


def test_candidate_needs_evidence_and_a_decision() -> None:
    stored = Trace().sensor(0, 100)
    with pytest.raises(UsageError, match="names no record"):
        Candidate("x", Severity.LOW, (), "d", decided_by=stored)
    with pytest.raises(UsageError, match="decided_by or due"):
        Candidate("x", Severity.LOW, (stored,), "d")
    with pytest.raises(UsageError, match="timezone-aware"):
        Candidate("x", Severity.LOW, (stored,), "d", due=datetime(2026, 1, 1))  # noqa: DTZ001


def test_lookback_union_and_validation() -> None:
    a = Lookback(records=2, duration=timedelta(minutes=5), last_of=frozenset({RecordType.ALARM}))
    b = Lookback(records=1, duration=timedelta(minutes=9))
    assert a.union(b) == Lookback(2, timedelta(minutes=9), frozenset({RecordType.ALARM}))
    with pytest.raises(UsageError):
        Lookback(records=-1)


def test_lookback_select_keeps_count_duration_and_last_of_type() -> None:
    t = Trace()
    alarm = t.event(0, RecordType.ALARM, code="x", severity="low")
    history = [alarm] + [t.sensor(m, 100) for m in (100, 110, 120, 130)]
    new = [t.sensor(140, 100)]
    lookback = Lookback(
        records=1, duration=timedelta(minutes=25), last_of=frozenset({RecordType.ALARM})
    )
    assert lookback.select(history, new) == (alarm, history[3], history[4])
    assert Lookback(records=2).select(history, new) == tuple(history[3:])
    assert Lookback().select([], new) == ()
    assert Lookback(duration=timedelta(minutes=10)).select(history, []) == tuple(history[3:])
