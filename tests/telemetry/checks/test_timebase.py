"""Check 3: device clock jumps and sustained drift."""

from __future__ import annotations

from medwarden.telemetry.checks import DeviceLimits, Severity, TimeBaseCheck
from medwarden.telemetry.records import RecordType
from tests.telemetry.checks.builders import Trace, codes, named, refs, run

CHECK = TimeBaseCheck()
SENSOR = RecordType.SENSOR_READING


def test_steady_clock_raises_nothing() -> None:
    t = Trace()
    t.sensors([100] * 3 + [101] * 3)
    assert run(CHECK, t.records) == ()


def test_backward_step_names_both_records() -> None:
    t = Trace()
    first = t.sensor(10, 100)
    second = t.sensor(9.99, 100)
    (warning,) = run(CHECK, t.records)
    assert (warning.code, warning.severity) == ("time_backwards", Severity.HIGH)
    assert warning.evidence == refs(first, second)


def test_equal_times_and_tolerated_backward_steps_pass() -> None:
    t = Trace()
    t.sensor(10, 100)
    t.sensor(10, 100)
    t.sensor(9, 100)
    assert codes(run(CHECK, t.records)) == ["time_backwards"]
    assert run(CHECK, t.records, limits=DeviceLimits(time_backwards_tolerance_min=1)) == ()


def test_backward_step_across_a_reboot_is_flagged() -> None:
    t = Trace()
    t.sensor(60, 100)
    t.add(SENSOR, {"glucose_mg_dl": 100}, 0, boot_id="boot-2")
    assert codes(run(CHECK, t.records)) == ["time_backwards"]


def test_forward_jump_beyond_receipt_time_within_a_boot() -> None:
    t = Trace()
    t.add(SENSOR, {"glucose_mg_dl": 100}, 0, received=1)
    jump = t.add(SENSOR, {"glucose_mg_dl": 100}, 70.01, received=11)
    (warning,) = run(CHECK, t.records)
    assert warning.code == "time_jump_forward"
    assert warning.evidence[-1] == jump.ref


def test_forward_jump_at_the_limit_or_explained_by_silence_passes() -> None:
    t = Trace()
    t.add(SENSOR, {"glucose_mg_dl": 100}, 0, received=1)
    t.add(SENSOR, {"glucose_mg_dl": 100}, 70, received=11)
    t.add(SENSOR, {"glucose_mg_dl": 100}, 300, received=241)
    assert run(CHECK, t.records) == ()


def test_forward_jump_across_a_reboot_is_not_a_jump() -> None:
    t = Trace()
    t.add(SENSOR, {"glucose_mg_dl": 100}, 0, received=1)
    t.add(SENSOR, {"glucose_mg_dl": 100}, 300, received=2, boot_id="boot-2")
    assert run(CHECK, t.records) == ()


def _drifting(offsets: list[float]) -> Trace:
    t = Trace()
    for i, offset in enumerate(offsets):
        t.add(SENSOR, {"glucose_mg_dl": 100}, 30 + 5 * i, received=30 + 5 * i - offset)
    return t


def test_drift_needs_a_sustained_run() -> None:
    limits = DeviceLimits(drift_min_records=3)
    assert run(CHECK, _drifting([11, 11, 0, 11, 11]).records, limits=limits) == ()
    t = _drifting([0, 11, 11, 11, 11, 11])
    (warning,) = run(CHECK, t.records, limits=limits)
    assert warning.code == "clock_drift"
    assert named(warning) == [1, 2, 3]
    assert "ahead of" in warning.detail


def test_drift_at_the_limit_or_changing_sign_is_no_trend() -> None:
    limits = DeviceLimits(drift_min_records=3)
    assert run(CHECK, _drifting([10, 10, 10, 10]).records, limits=limits) == ()
    assert run(CHECK, _drifting([11, -11, 11, -11]).records, limits=limits) == ()
    (warning,) = run(CHECK, _drifting([-11, -11, -11]).records, limits=limits)
    assert "behind" in warning.detail


def test_drift_run_is_reported_once_and_again_after_it_ends() -> None:
    limits = DeviceLimits(drift_min_records=2)
    t = _drifting([11, 11, 11, 11, 0, 11, 11])
    assert [named(w) for w in run(CHECK, t.records, limits=limits)] == [[0, 1], [5, 6]]


def test_lookback_covers_the_drift_run() -> None:
    assert CHECK.lookback(DeviceLimits(drift_min_records=9)).records == 9
