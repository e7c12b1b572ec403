"""Check 1: sensor gaps (device time) and signal loss (server time)."""

from __future__ import annotations

from medwarden.telemetry.checks import DeviceLimits, Severity, StaleDataCheck
from medwarden.telemetry.records import RecordType
from tests.telemetry.checks.builders import Trace, by_code, codes, named, refs, run, td

CHECK = StaleDataCheck()


def test_regular_readings_raise_nothing() -> None:
    t = Trace()
    t.sensors([100, 102, 104, 106])
    assert run(CHECK, t.records) == ()


def test_gap_just_over_the_limit_names_both_readings() -> None:
    t = Trace()
    first = t.sensor(0, 100)
    second = t.sensor(15.01, 101)
    (warning,) = by_code(run(CHECK, t.records), "sensor_gap")
    assert warning.code == "sensor_gap"
    assert warning.evidence == refs(first, second)
    assert warning.severity is Severity.MEDIUM
    assert warning.at == second.received_at


def test_gap_exactly_at_the_limit_is_tolerated() -> None:
    t = Trace()
    t.sensor(0, 100)
    t.sensor(15, 101)
    assert run(CHECK, t.records) == ()


def test_other_records_do_not_fill_a_sensor_gap() -> None:
    t = Trace()
    t.sensor(0, 100)
    t.event(10, RecordType.ALARM, code="x", severity="low")
    last = t.sensor(20, 100)
    (warning,) = by_code(run(CHECK, t.records), "sensor_gap")
    assert named(warning) == [0, last.record.seq]


def test_gap_limit_comes_from_the_model_limits() -> None:
    t = Trace()
    t.sensor(0, 100)
    t.sensor(10, 100)
    found = run(CHECK, t.records, limits=DeviceLimits(stale_after_min=9))
    assert codes(found) == ["signal_loss", "sensor_gap"]
    assert run(CHECK, t.records, limits=DeviceLimits(stale_after_min=10)) == ()


def test_signal_loss_falls_due_after_the_limit() -> None:
    t = Trace()
    t.sensor(0, 100)
    last = t.sensor(5, 100)
    due = last.received_at + DeviceLimits().minutes("stale_after_min")
    assert run(CHECK, t.records, now=due) == ()
    (warning,) = run(CHECK, t.records, now=due + td(0.01))
    assert warning.code == "signal_loss"
    assert warning.evidence == refs(last)
    assert warning.severity is Severity.HIGH
    assert warning.at == due


def test_signal_loss_is_not_repeated_by_a_later_run() -> None:
    t = Trace()
    last = t.sensor(0, 100)
    due = last.received_at + DeviceLimits().minutes("stale_after_min")
    later = due + td(30)
    assert run(CHECK, t.records, now=later, new=[], previous_run=due + td(1)) == ()
    assert codes(run(CHECK, t.records, now=later, new=[], previous_run=due)) == ["signal_loss"]


def test_signal_loss_decided_by_a_late_record_is_emitted_once() -> None:
    t = Trace()
    reading = t.sensor(0, 100)
    alarm = t.event(20, RecordType.ALARM, code="no-cgm", severity="high")
    (warning,) = run(CHECK, t.records, new=[alarm])
    assert (warning.code, warning.evidence) == ("signal_loss", refs(reading))
    assert run(CHECK, t.records, new=[]) == ()


def test_reading_received_late_but_within_the_limit_is_no_loss() -> None:
    t = Trace()
    t.sensor(0, 100)
    t.add(RecordType.SENSOR_READING, {"glucose_mg_dl": 100}, 5, received=15.5)
    assert run(CHECK, t.records) == ()


def test_window_without_sensor_readings_is_measured_from_its_first_record() -> None:
    t = Trace()
    first = t.event(0, RecordType.ALARM, code="x", severity="low")
    t.event(20, RecordType.ALARM, code="x", severity="low")
    (warning,) = run(CHECK, t.records)
    assert (warning.code, warning.evidence) == ("signal_loss", refs(first))


def test_lookback_asks_for_the_last_sensor_reading() -> None:
    lookback = CHECK.lookback(DeviceLimits())
    assert RecordType.SENSOR_READING in lookback.last_of
    assert lookback.records == 1


def test_time_before_the_first_reading_counts_from_the_first_record() -> None:
    t = Trace()
    boot = t.event(0, RecordType.DEVICE_EVENT, event="boot")
    t.sensor(15, 100)
    assert run(CHECK, t.records) == ()
    t2 = Trace()
    boot = t2.event(0, RecordType.DEVICE_EVENT, event="boot")
    t2.sensor(15.01, 100)
    (warning,) = run(CHECK, t2.records)
    assert (warning.code, warning.evidence) == ("signal_loss", refs(boot))
    assert "after this record" in warning.detail
