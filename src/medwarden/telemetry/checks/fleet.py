"""Check 7: fleet rates of mode changes, alarms and user overrides per software version.

Input is fleet-level: one :class:`DeviceDay` per (device, software version, UTC day of
device time) with the day's event counts (:func:`count_device_days` builds them from a
device's records).  For each metric and software version, the rate is events per
device-day.  The baseline is the configured rate for the metric when given, otherwise the
pooled rate of every *other* version.  A version is flagged when it has at least
``fleet_min_events`` events over at least ``fleet_min_device_days`` device-days and its
rate exceeds ``fleet_rate_factor`` x the baseline; the warning names the devices driving
it (their own rate exceeds the same threshold), highest rate first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from medwarden.errors import UsageError
from medwarden.telemetry.checks.base import DeviceContext, Severity, StoredRecord
from medwarden.telemetry.checks.limits import DeviceLimits
from medwarden.telemetry.records import RecordType

__all__ = [
    "FLEET_CHECK_ID",
    "DeviceDay",
    "FleetMetric",
    "FleetWarning",
    "count_device_days",
    "fleet_rate_warnings",
]

FLEET_CHECK_ID = "fleet_rates"


class FleetMetric(StrEnum):
    """What is counted per device-day."""

    MODE_CHANGE = "mode_change"
    ALARM = "alarm"
    USER_OVERRIDE = "user_override"


@dataclass(frozen=True, slots=True)
class DeviceDay:
    """One device's event counts on one UTC day (device time) under one software version."""

    device_id: str
    software_version: str
    day: date
    mode_changes: int = 0
    alarms: int = 0
    user_overrides: int = 0

    def __post_init__(self) -> None:
        for metric in FleetMetric:
            value = self.count(metric)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UsageError(f"{metric.value} count must be an integer >= 0, not {value!r}")

    def count(self, metric: FleetMetric) -> int:
        """The day's count of ``metric``."""
        return {
            FleetMetric.MODE_CHANGE: self.mode_changes,
            FleetMetric.ALARM: self.alarms,
            FleetMetric.USER_OVERRIDE: self.user_overrides,
        }[metric]


@dataclass(frozen=True, slots=True)
class FleetWarning:
    """A software version whose rate of a metric is above the fleet baseline."""

    check_id: str
    code: str
    severity: Severity
    software_version: str
    metric: FleetMetric
    events: int
    device_days: int
    rate: float
    baseline: float
    device_ids: tuple[str, ...]
    detail: str


_METRIC_OF = {
    RecordType.MODE_CHANGE: FleetMetric.MODE_CHANGE,
    RecordType.ALARM: FleetMetric.ALARM,
    RecordType.USER_OVERRIDE: FleetMetric.USER_OVERRIDE,
}


def count_device_days(
    context: DeviceContext, records: Iterable[StoredRecord]
) -> tuple[DeviceDay, ...]:
    """Count one device's events per UTC day of device time (days with any record)."""
    counts: dict[date, dict[FleetMetric, int]] = {}
    for stored in records:
        day = counts.setdefault(stored.time.date(), dict.fromkeys(FleetMetric, 0))
        metric = _METRIC_OF.get(stored.kind)
        if metric is not None:
            day[metric] += 1
    return tuple(
        DeviceDay(
            context.device_id,
            context.software_version,
            day,
            mode_changes=c[FleetMetric.MODE_CHANGE],
            alarms=c[FleetMetric.ALARM],
            user_overrides=c[FleetMetric.USER_OVERRIDE],
        )
        for day, c in sorted(counts.items())
    )


def _by_version(days: Iterable[DeviceDay]) -> dict[str, list[DeviceDay]]:
    seen: set[tuple[str, str, date]] = set()
    out: dict[str, list[DeviceDay]] = defaultdict(list)
    for day in days:
        key = (day.device_id, day.software_version, day.day)
        if key in seen:
            raise UsageError(f"device {key[0]} version {key[1]} counted twice for {key[2]}")
        seen.add(key)
        out[day.software_version].append(day)
    return dict(out)


def _rate(days: Sequence[DeviceDay], metric: FleetMetric) -> float:
    return sum(d.count(metric) for d in days) / len(days) if days else 0.0


def fleet_rate_warnings(
    days: Iterable[DeviceDay],
    limits: DeviceLimits,
    *,
    baseline: Mapping[FleetMetric, float] | None = None,
) -> tuple[FleetWarning, ...]:
    """Return the versions whose metric rates exceed the baseline (sorted by version, metric)."""
    versions = _by_version(days)
    out: list[FleetWarning] = []
    for version in sorted(versions):
        others = [d for v, group in versions.items() if v != version for d in group]
        for metric in FleetMetric:
            base = _baseline(metric, others, baseline)
            if base is not None:
                found = _judge(version, versions[version], metric, base, limits)
                out.extend([found] if found is not None else [])
    return tuple(out)


def _baseline(
    metric: FleetMetric, others: Sequence[DeviceDay], configured: Mapping[FleetMetric, float] | None
) -> float | None:
    if configured is not None and metric in configured:
        value = configured[metric]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise UsageError(f"baseline for {metric.value} must be a number >= 0")
        return float(value)
    return _rate(others, metric) if others else None


def _judge(
    version: str, days: Sequence[DeviceDay], metric: FleetMetric, base: float, limits: DeviceLimits
) -> FleetWarning | None:
    events = sum(d.count(metric) for d in days)
    rate = events / len(days)
    threshold = base * limits.fleet_rate_factor
    if events < limits.fleet_min_events or len(days) < limits.fleet_min_device_days:
        return None
    if rate <= threshold:
        return None
    return FleetWarning(
        FLEET_CHECK_ID,
        f"{metric.value}_rate_above_baseline",
        Severity.MEDIUM,
        version,
        metric,
        events,
        len(days),
        rate,
        base,
        _drivers(days, metric, threshold),
        f"{metric.value} rate {rate:.2f}/device-day over {len(days)} device-days exceeds "
        f"{limits.fleet_rate_factor:g} x baseline {base:.2f}",
    )


def _drivers(days: Sequence[DeviceDay], metric: FleetMetric, threshold: float) -> tuple[str, ...]:
    per_device: dict[str, list[DeviceDay]] = defaultdict(list)
    for day in days:
        per_device[day.device_id].append(day)
    rates = {device: _rate(group, metric) for device, group in per_device.items()}
    driving = [device for device, rate in rates.items() if rate > threshold]
    return tuple(sorted(driving, key=lambda device: (-rates[device], device)))
