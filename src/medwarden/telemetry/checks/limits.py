"""Per-device-model limits of the early-warning checks, with documented defaults.

The defaults suit an automated insulin delivery system (CGM with a 5-minute cadence,
insulin pump, closed-loop controller) for an adult; ``docs/checks.md`` explains each one.
A device model overrides any of them with :meth:`DeviceLimits.from_mapping`, e.g. from
the JSON of its settings: unknown keys, wrong types and values out of range raise
:class:`~medwarden.errors.InputError` naming the key.

Units follow ``docs/telemetry.md``: glucose mg/dL, insulin U, rates U/h, durations minutes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import Any

from medwarden.errors import InputError, Location

__all__ = ["DeviceLimits"]

_ALLOW_ZERO = frozenset(
    {
        "chain_gap_tolerance",
        "time_backwards_tolerance_min",
        "dose_tolerance_u",
        "rate_tolerance_u_h",
    }
)


@dataclass(frozen=True, slots=True)
class DeviceLimits:
    """The thresholds of every check for one device model (see ``docs/checks.md``)."""

    # 1. stale data / signal loss
    stale_after_min: float = 15.0
    """Longest tolerated gap between sensor readings (device time) or since the last one."""
    # 2. chain gaps
    chain_gap_tolerance: int = 0
    """Missing sequence numbers tolerated within a boot before warning."""
    # 3. time base
    time_backwards_tolerance_min: float = 0.0
    """Largest backward step of device time between consecutive records not warned."""
    time_forward_jump_min: float = 60.0
    """Largest device-time advance within a boot beyond the receipt-time advance."""
    drift_limit_min: float = 10.0
    """Largest tolerated |device_time - received_at|."""
    drift_min_records: int = 6
    """Consecutive records beyond the drift limit (same sign) that make a drift trend."""
    # 4. sensor data quality
    glucose_min_mg_dl: float = 40.0
    """Lowest physiologic / reportable sensor glucose."""
    glucose_max_mg_dl: float = 400.0
    """Highest physiologic / reportable sensor glucose."""
    max_rate_mg_dl_min: float = 4.0
    """Largest plausible rate of change between consecutive readings."""
    flat_line_readings: int = 6
    """Identical consecutive readings that make a flat line (6 = 30 min at 5-min cadence)."""
    noise_window_readings: int = 6
    """Readings per noise window."""
    noise_min_alternations: int = 4
    """Sign alternations of successive steps within a window that make it noisy."""
    noise_min_step_mg_dl: float = 10.0
    """Smallest step between readings that counts toward an alternation."""
    compression_drop_mg_dl: float = 40.0
    """Drop (mg/dL) that starts a compression low when it happens within the drop window."""
    compression_drop_window_min: float = 10.0
    """Longest time for the drop."""
    compression_recovery_window_min: float = 30.0
    """Longest time from the nadir to the recovery."""
    compression_recovery_margin_mg_dl: float = 20.0
    """Recovered means back within this margin of the pre-drop reading."""
    # 5. actuation
    max_temp_basal_u_h: float = 5.0
    """Largest temp basal rate."""
    max_temp_basal_duration_min: float = 1440.0
    """Longest temp basal (longer ones are warned and integrated up to this)."""
    max_bolus_u: float = 10.0
    """Largest single bolus."""
    insulin_short_window_min: float = 120.0
    """Length of the short sliding insulin window."""
    max_insulin_short_u: float = 20.0
    """Most insulin commanded within the short window."""
    insulin_long_window_min: float = 1440.0
    """Length of the long sliding insulin window."""
    max_insulin_long_u: float = 100.0
    """Most insulin commanded within the long window."""
    # 6. command / confirmation
    confirmation_latency_min: float = 10.0
    """Longest time from a command to its confirmation (device time)."""
    command_match_window_min: float = 60.0
    """How far back a confirmation's command is looked for."""
    dose_tolerance_u: float = 0.025
    """Largest tolerated difference between commanded and delivered bolus units."""
    rate_tolerance_u_h: float = 0.025
    """Largest tolerated difference between commanded and confirmed temp basal rate."""
    # 7. fleet rates
    fleet_rate_factor: float = 2.0
    """A version is flagged when its per-device-day rate exceeds the baseline by this factor."""
    fleet_min_events: int = 20
    """Fewest events of a version before its rate is judged."""
    fleet_min_device_days: int = 5
    """Fewest device-days of a version before its rate is judged."""

    def __post_init__(self) -> None:
        for spec in fields(self):
            _check_value(spec.name, spec.type, getattr(self, spec.name))
        self._check_relations()

    def _check_relations(self) -> None:
        if self.glucose_min_mg_dl >= self.glucose_max_mg_dl:
            raise _error("glucose_min_mg_dl", "must be below glucose_max_mg_dl")
        if self.flat_line_readings < 2:
            raise _error("flat_line_readings", "must be at least 2")
        if self.noise_window_readings < 3:
            raise _error("noise_window_readings", "must be at least 3")
        if self.noise_min_alternations > self.noise_window_readings - 2:
            raise _error("noise_min_alternations", "must be at most noise_window_readings - 2")
        if self.fleet_rate_factor < 1:
            raise _error("fleet_rate_factor", "must be at least 1")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> DeviceLimits:
        """Return the defaults overridden by ``values`` (a model's settings object)."""
        if not isinstance(values, Mapping):
            raise InputError(f"device limits must be an object, not {type(values).__name__}")
        known = {spec.name for spec in fields(cls)}
        unknown = sorted(str(key) for key in values if key not in known)
        if unknown:
            raise InputError(
                f"unknown device limit {unknown[0]!r}",
                location=Location(pointer=f"/{unknown[0]}"),
                details=tuple(f"unknown: {key}" for key in unknown),
                hint="see docs/checks.md for the limits and their units",
            )
        return replace(cls(), **dict(values))

    def minutes(self, name: str) -> timedelta:
        """Return the ``*_min`` limit ``name`` as a duration."""
        return timedelta(minutes=float(getattr(self, name)))


def _error(key: str, problem: str) -> InputError:
    return InputError(f"device limit {key!r} {problem}", location=Location(pointer=f"/{key}"))


def _check_value(name: str, kind: object, value: object) -> None:
    number = _number(name, kind, value)
    if number < 0 or (number == 0 and name not in _ALLOW_ZERO):
        raise _error(name, f"must be {'>= 0' if name in _ALLOW_ZERO else '> 0'}, not {value!r}")


def _number(name: str, kind: object, value: object) -> float:
    if kind in ("int", int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _error(name, f"must be an integer, not {type(value).__name__}")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _error(name, f"must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise _error(name, "must be finite")
    return float(value)
