"""Check 7: fleet rates per software version against a baseline."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from medwarden.errors import InputError, UsageError
from medwarden.telemetry.checks import (
    DeviceContext,
    DeviceDay,
    DeviceLimits,
    FleetMetric,
    Severity,
    count_device_days,
    fleet_rate_warnings,
)
from medwarden.telemetry.records import RecordType
from tests.telemetry.checks.builders import CONTEXT, Trace

DAY = date(2026, 1, 1)
LIMITS = DeviceLimits(fleet_min_events=10, fleet_min_device_days=4, fleet_rate_factor=2.0)


def _days(version: str, devices: dict[str, list[int]], metric: str = "alarms") -> list[DeviceDay]:
    return [
        DeviceDay(device, version, DAY + timedelta(days=i), **{metric: n})
        for device, counts in devices.items()
        for i, n in enumerate(counts)
    ]


def test_version_above_the_other_versions_is_flagged_with_its_drivers() -> None:
    days = _days("1.0", {"a": [1, 1], "b": [1, 1]}) + _days(
        "2.0", {"c": [5, 5], "d": [1, 1], "e": [4, 3]}
    )
    (warning,) = fleet_rate_warnings(days, LIMITS)
    assert (warning.software_version, warning.metric) == ("2.0", FleetMetric.ALARM)
    assert warning.code == "alarm_rate_above_baseline"
    assert warning.severity is Severity.MEDIUM
    assert (warning.events, warning.device_days) == (19, 6)
    assert warning.baseline == 1.0
    assert warning.device_ids == ("c", "e")


def test_rate_at_the_factor_is_not_flagged() -> None:
    days = _days("1.0", {"a": [1, 1, 1, 1]}) + _days("2.0", {"b": [2, 2, 2, 2, 2]})
    assert fleet_rate_warnings(days, LIMITS) == ()
    days[-1] = DeviceDay("b", "2.0", days[-1].day, alarms=3)
    assert [w.software_version for w in fleet_rate_warnings(days, LIMITS)] == ["2.0"]


def test_minimum_events_and_device_days_suppress_noise() -> None:
    few_events = _days("1.0", {"a": [0, 0, 0, 0]}) + _days("2.0", {"b": [2, 2, 2, 3]})
    assert fleet_rate_warnings(few_events, LIMITS) == ()
    few_days = _days("1.0", {"a": [0, 0, 0, 0]}) + _days("2.0", {"b": [20, 20, 20]})
    assert fleet_rate_warnings(few_days, LIMITS) == ()


def test_configured_baseline_replaces_the_other_versions() -> None:
    days = _days("2.0", {"a": [3, 3, 3, 3]}, "mode_changes")
    assert fleet_rate_warnings(days, LIMITS) == ()
    (warning,) = fleet_rate_warnings(days, LIMITS, baseline={FleetMetric.MODE_CHANGE: 1.0})
    assert (warning.metric, warning.rate, warning.device_ids) == (
        FleetMetric.MODE_CHANGE,
        3.0,
        ("a",),
    )
    assert fleet_rate_warnings(days, LIMITS, baseline={FleetMetric.MODE_CHANGE: 1.5}) == ()


def test_metrics_are_judged_separately() -> None:
    days = [
        DeviceDay("a", "1.0", DAY + timedelta(days=i), user_overrides=1, alarms=5) for i in range(4)
    ] + [
        DeviceDay("b", "2.0", DAY + timedelta(days=i), user_overrides=5, alarms=5) for i in range(4)
    ]
    assert [(w.software_version, w.metric) for w in fleet_rate_warnings(days, LIMITS)] == [
        ("2.0", FleetMetric.USER_OVERRIDE)
    ]


def test_duplicate_device_day_and_bad_counts_are_refused() -> None:
    with pytest.raises(UsageError, match="counted twice"):
        fleet_rate_warnings([DeviceDay("a", "1", DAY), DeviceDay("a", "1", DAY)], LIMITS)
    with pytest.raises(UsageError, match="alarm count"):
        DeviceDay("a", "1", DAY, alarms=-1)
    with pytest.raises(UsageError, match="baseline"):
        fleet_rate_warnings(_days("1", {"a": [1]}), LIMITS, baseline={FleetMetric.ALARM: -1})


def test_count_device_days_groups_by_utc_day_of_device_time() -> None:
    t = Trace()
    t.event(0, RecordType.ALARM, code="a", severity="low")
    t.event(1, RecordType.MODE_CHANGE, mode="open_loop")
    t.event(2, RecordType.USER_OVERRIDE, kind="temp_target")
    t.event(60 * 13, RecordType.ALARM, code="a", severity="low")
    t.sensor(60 * 13 + 1, 100)
    days = count_device_days(CONTEXT, t.records)
    assert days == (
        DeviceDay("dev-1", "2.4.1", DAY, mode_changes=1, alarms=1, user_overrides=1),
        DeviceDay("dev-1", "2.4.1", DAY + timedelta(days=1), alarms=1),
    )


def test_device_context_refuses_empty_fields() -> None:
    with pytest.raises(InputError, match="software_version"):
        DeviceContext("dev-1", "pump", " ", "pt")
