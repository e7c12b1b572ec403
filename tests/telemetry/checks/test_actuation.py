"""Check 5: actuation limits (single doses, rates and cumulative insulin)."""

from __future__ import annotations

import pytest

from medwarden.telemetry.checks import CHECK_ERROR, ActuationLimitsCheck, DeviceLimits, Severity
from medwarden.telemetry.records import RecordType
from tests.telemetry.checks.builders import Trace, by_code, codes, named, refs, run

CHECK = ActuationLimitsCheck()
OVERRIDE = RecordType.USER_OVERRIDE


def test_doses_within_limits_raise_nothing() -> None:
    t = Trace()
    t.command(0, "c1", "temp_basal", rate_u_h=5.0, duration_min=30)
    t.command(5, "c2", "bolus", units=10.0)
    t.command(10, "c3", "suspend")
    t.command(15, "c4", "resume")
    assert run(CHECK, t.records) == ()


def test_temp_basal_rate_over_the_maximum() -> None:
    t = Trace()
    t.sensor(0, 100)
    cmd = t.command(1, "c1", "temp_basal", rate_u_h=5.01, duration_min=30)
    (warning,) = run(CHECK, t.records)
    assert (warning.code, warning.severity) == ("temp_basal_rate_exceeded", Severity.HIGH)
    assert warning.evidence == refs(cmd)


def test_temp_basal_longer_than_the_maximum() -> None:
    t = Trace()
    cmd = t.command(0, "c1", "temp_basal", rate_u_h=0.5, duration_min=31)
    limits = DeviceLimits(max_temp_basal_duration_min=30)
    (warning,) = run(CHECK, t.records, limits=limits)
    assert (warning.code, warning.evidence) == ("temp_basal_duration_exceeded", refs(cmd))


def test_bolus_over_the_maximum_by_command_or_manual_override() -> None:
    t = Trace()
    cmd = t.command(0, "c1", "bolus", units=10.05)
    manual = t.event(5, OVERRIDE, kind="manual_bolus", units=12)
    t.event(6, OVERRIDE, kind="manual_bolus", units=10)
    found = run(CHECK, t.records)
    assert codes(found) == ["bolus_exceeded", "bolus_exceeded"]
    assert [w.evidence for w in found] == [refs(cmd), refs(manual)]


def test_short_window_crossing_names_contributors_and_the_crossing_record() -> None:
    t = Trace()
    first = t.command(0, "c1", "bolus", units=8)
    second = t.command(30, "c2", "bolus", units=8)
    third = t.command(60, "c3", "bolus", units=4.5)
    t.command(65, "c4", "bolus", units=1)
    (warning,) = run(CHECK, t.records)
    assert (warning.code, warning.severity) == ("cumulative_insulin_short", Severity.HIGH)
    assert warning.evidence == refs(first, second, third)
    assert warning.detail.startswith("20.500 U")


def test_window_total_at_the_maximum_passes_and_window_slides() -> None:
    t = Trace()
    t.command(0, "c1", "bolus", units=10)
    t.command(60, "c2", "bolus", units=10)
    t.command(120, "c3", "bolus", units=10)
    assert run(CHECK, t.records) == ()


def test_temp_basal_is_integrated_until_replaced() -> None:
    limits = DeviceLimits(max_insulin_short_u=5, max_temp_basal_u_h=10)
    t = Trace()
    t.command(0, "c1", "temp_basal", rate_u_h=10, duration_min=60)
    t.command(29.5, "c2", "temp_basal", rate_u_h=0.1, duration_min=60)
    t.sensor(31, 100)
    assert run(CHECK, t.records, limits=limits) == ()


def test_running_temp_basal_crosses_at_the_first_record_past_the_maximum() -> None:
    limits = DeviceLimits(max_insulin_short_u=5, max_temp_basal_u_h=10)
    t = Trace()
    basal = t.command(0, "c1", "temp_basal", rate_u_h=10, duration_min=60)
    t.sensor(30, 100)
    crossing = t.sensor(31, 100)
    (warning,) = run(CHECK, t.records, limits=limits)
    assert warning.evidence == refs(basal, crossing)
    assert warning.detail.startswith("5.167 U")


def test_temp_basal_is_integrated_only_up_to_the_maximum_duration() -> None:
    limits = DeviceLimits(
        max_insulin_short_u=5, max_temp_basal_u_h=10, max_temp_basal_duration_min=30
    )
    t = Trace()
    basal = t.command(0, "c1", "temp_basal", rate_u_h=10, duration_min=90)
    t.sensor(60, 100)
    found = run(CHECK, t.records, limits=limits)
    assert [(w.code, w.evidence) for w in found] == [("temp_basal_duration_exceeded", refs(basal))]


@pytest.mark.parametrize(
    ("ender", "kind"),
    [(RecordType.ACTUATOR_COMMAND, "suspend"), (OVERRIDE, "cancel_temp"), (OVERRIDE, "suspend")],
)
def test_suspend_and_cancel_end_a_temp_basal(ender: RecordType, kind: str) -> None:
    limits = DeviceLimits(max_insulin_short_u=4.9, max_temp_basal_u_h=10)
    t = Trace()
    t.command(0, "c1", "temp_basal", rate_u_h=10, duration_min=60)
    if ender is RecordType.ACTUATOR_COMMAND:
        t.command(20, "c2", kind)
    else:
        t.event(20, OVERRIDE, kind=kind)
    t.sensor(60, 100)
    assert run(CHECK, t.records, limits=limits) == ()


def test_long_window_crossing() -> None:
    limits = DeviceLimits(max_insulin_long_u=15, max_insulin_short_u=100)
    t = Trace()
    for hour in range(4):
        t.command(hour * 180, f"c{hour}", "bolus", units=5)
    (warning,) = run(CHECK, t.records, limits=limits)
    assert warning.code == "cumulative_insulin_long"
    assert named(warning) == [0, 1, 2, 3]


def test_crossing_is_raised_once_while_over() -> None:
    t = Trace()
    t.command(0, "c1", "bolus", units=10)
    t.command(10, "c2", "bolus", units=10)
    t.command(20, "c3", "bolus", units=1)
    t.command(30, "c4", "bolus", units=1)
    assert [named(w) for w in by_code(run(CHECK, t.records), "cumulative_insulin_short")] == [
        [0, 1, 2]
    ]


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"command_id": "c1", "kind": "bolus"}, "units"),
        ({"command_id": "c1", "kind": "bolus", "units": "5"}, "units"),
        ({"command_id": "c1", "kind": "bolus", "units": -1}, "units"),
        ({"command_id": "c1", "kind": "temp_basal", "rate_u_h": 1}, "duration_min"),
        ({"command_id": "c1", "kind": "temp_basal", "duration_min": 30}, "rate_u_h"),
        ({"command_id": "c1", "kind": "prime"}, "kind"),
        ({"kind": "bolus", "units": 1}, "command_id"),
    ],
)
def test_malformed_command_is_a_check_error(body: dict[str, object], key: str) -> None:
    t = Trace()
    bad = t.add(RecordType.ACTUATOR_COMMAND, body, 0)
    (warning,) = run(CHECK, t.records)
    assert (warning.code, warning.evidence) == (CHECK_ERROR, refs(bad))
    assert repr(key) in warning.detail


def test_manual_bolus_without_units_is_a_check_error() -> None:
    t = Trace()
    bad = t.event(0, OVERRIDE, kind="manual_bolus")
    (warning,) = run(CHECK, t.records)
    assert (warning.code, warning.evidence) == (CHECK_ERROR, refs(bad))


def test_override_without_kind_is_a_check_error() -> None:
    t = Trace()
    bad = t.event(0, OVERRIDE, units=2)
    assert [(w.code, w.evidence) for w in run(CHECK, t.records)] == [(CHECK_ERROR, refs(bad))]


def test_lookback_covers_window_and_longest_temp_basal() -> None:
    limits = DeviceLimits(insulin_long_window_min=600, max_temp_basal_duration_min=60)
    assert CHECK.lookback(limits).duration.total_seconds() == (600 + 60 + 15) * 60
