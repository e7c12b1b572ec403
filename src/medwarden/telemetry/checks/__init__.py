"""Early-warning checks over a device's accepted records: pure domain, fail closed.

See ``docs/checks.md``.  The public API:

* values -- :class:`StoredRecord`, :class:`DeviceContext`, :class:`RecordRef`,
  :class:`EarlyWarning`, :class:`Severity`, :class:`Candidate`, :class:`Lookback`;
* :class:`Check` (protocol), :class:`CheckRegistry`, :func:`default_registry`;
* :class:`DeviceLimits` (per device model, :meth:`DeviceLimits.from_mapping`);
* :func:`run_checks` -- incremental runs over ``[look-back + new]``;
* fleet rates -- :class:`DeviceDay`, :func:`count_device_days`,
  :func:`fleet_rate_warnings`, :class:`FleetWarning`.
"""

from __future__ import annotations

from medwarden.telemetry.checks.actuation import ActuationLimitsCheck
from medwarden.telemetry.checks.base import (
    CHECK_ERROR,
    Candidate,
    Check,
    CheckInput,
    DeviceContext,
    EarlyWarning,
    Lookback,
    RecordRef,
    Severity,
    StoredRecord,
)
from medwarden.telemetry.checks.confirmation import CommandConfirmationCheck
from medwarden.telemetry.checks.fleet import (
    DeviceDay,
    FleetMetric,
    FleetWarning,
    count_device_days,
    fleet_rate_warnings,
)
from medwarden.telemetry.checks.limits import DeviceLimits
from medwarden.telemetry.checks.registry import CheckRegistry, default_registry
from medwarden.telemetry.checks.runner import run_checks
from medwarden.telemetry.checks.sensor_quality import SensorQualityCheck
from medwarden.telemetry.checks.sequence import ChainGapCheck
from medwarden.telemetry.checks.staleness import StaleDataCheck
from medwarden.telemetry.checks.timebase import TimeBaseCheck

__all__ = [
    "CHECK_ERROR",
    "ActuationLimitsCheck",
    "Candidate",
    "ChainGapCheck",
    "Check",
    "CheckInput",
    "CheckRegistry",
    "CommandConfirmationCheck",
    "DeviceContext",
    "DeviceDay",
    "DeviceLimits",
    "EarlyWarning",
    "FleetMetric",
    "FleetWarning",
    "Lookback",
    "RecordRef",
    "SensorQualityCheck",
    "Severity",
    "StaleDataCheck",
    "StoredRecord",
    "TimeBaseCheck",
    "count_device_days",
    "default_registry",
    "fleet_rate_warnings",
    "run_checks",
]
