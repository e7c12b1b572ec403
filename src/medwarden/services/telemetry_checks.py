"""Early warnings from the checks: run them after ingest and on a timer, list, acknowledge.

The order of work is ingest -> ledger -> commit -> acknowledge -> checks -> alerts: the
ingest path only *enqueues* a deduplicated ``telemetry_checks`` job per device
(:func:`check_job`, queued by :func:`~medwarden.services.telemetry.ingest_batch` in the
very transaction that stored the batch, for both transports; :func:`after_ingest` queues
it on its own), and a worker runs the checks
over the records the device's previous runs have not seen (:func:`run_device_checks`).
A periodic ``telemetry_checks_timer`` job runs every active device (:func:`run_timer`) so
time-based conditions (signal loss, unconfirmed commands) fall due without new records,
and ``telemetry_fleet_checks`` compares software versions' event rates
(:func:`run_fleet_checks`).  The store inserts new warnings idempotently and enqueues one
``telemetry.early_warning`` notification per new warning in the same transaction.

See ``docs/warnings.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol

from medwarden.core.clock import Clock
from medwarden.errors import ConfigError, MedwardenError, StoreError, UsageError
from medwarden.services.jobs import NewJob
from medwarden.telemetry.checks import (
    CheckRegistry,
    CommandConfirmationCheck,
    DeviceDay,
    DeviceLimits,
    Severity,
    StaleDataCheck,
)
from medwarden.telemetry.checks.fleet import FleetMetric, FleetWarning, fleet_rate_warnings
from medwarden.telemetry.checks.registry import closed_loop_registry
from medwarden.telemetry.controllers.inprocess import ProportionalBasalController
from medwarden.telemetry.controllers.registry import ControllerRegistry
from medwarden.telemetry.receipts import IngestResult

__all__ = [
    "CHECKS_JOB",
    "FLEET_JOB",
    "MAX_NOTE",
    "TIMER_JOB",
    "FleetInput",
    "IngestPort",
    "JobEnqueuer",
    "StoredWarning",
    "TimerReport",
    "WarningQuery",
    "WarningState",
    "WarningStore",
    "acknowledge_warning",
    "after_ingest",
    "check_job",
    "default_controllers",
    "fleet_period",
    "period_bounds",
    "run_device_checks",
    "run_fleet_checks",
    "run_timer",
    "time_based_registry",
]

log = logging.getLogger(__name__)

CHECKS_JOB = "telemetry_checks"
"""The job that runs one device's checks (``args: {"device_id": ...}``)."""

TIMER_JOB = "telemetry_checks_timer"
"""The periodic job that runs every active device's checks."""

FLEET_JOB = "telemetry_fleet_checks"
"""The periodic job that computes the fleet rate warnings."""

MAX_NOTE = 2000
"""Longest acknowledgement note."""

IngestPort = Callable[[str, Sequence[object]], list[IngestResult]]
"""An ingest port: (authenticated device, envelopes) -> one result per envelope."""


class WarningState(StrEnum):
    """Where a warning stands: waiting for a person, or looked at."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True, slots=True)
class StoredWarning:
    """A stored early warning; ``device_id`` is None for a fleet warning.

    ``evidence`` is plain JSON: ``{"records": [{"boot_id", "seq", "record_hash"}, ...]}``
    for a device warning, the fleet counts for a fleet warning."""

    id: int
    device_id: str | None
    check_id: str
    code: str
    severity: Severity
    evidence: dict[str, Any] = field(hash=False)
    detail: str
    at: datetime
    software_version: str
    patient_ref: str | None
    state: WarningState
    created_at: datetime
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class WarningQuery:
    """Filters of a warning listing (None: any)."""

    device_id: str | None = None
    severity: Severity | None = None
    state: WarningState | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class FleetInput:
    """One device model's limits (overrides) and device-days over a period."""

    model: str
    limits: Mapping[str, Any] = field(hash=False)
    days: tuple[DeviceDay, ...]


@dataclass(frozen=True, slots=True)
class TimerReport:
    """What a timer run did: new warnings per device (and all of them), failed devices."""

    new: dict[str, int] = field(default_factory=dict, hash=False)
    failed: dict[str, str] = field(default_factory=dict, hash=False)
    warnings: list[StoredWarning] = field(default_factory=list, hash=False)


class WarningStore(Protocol):
    """The early-warning store (``SqlStore.warnings``)."""

    def run_device(
        self,
        device_id: str,
        registry: CheckRegistry,
        *,
        now: datetime,
        idle: CheckRegistry | None = None,
    ) -> list[StoredWarning]:
        """Run the checks over the device's unchecked records (``idle`` when there are
        none); return the new warnings."""
        ...

    def active_device_ids(self) -> list[str]:
        """Every active device, by id."""
        ...

    def fleet_inputs(self, start: date, end: date) -> list[FleetInput]:
        """Device-days of ``[start, end)`` (UTC days of device time) per device model."""
        ...

    def store_fleet(
        self, model: str, found: Sequence[FleetWarning], period: tuple[date, date], *, now: datetime
    ) -> list[StoredWarning]:
        """Store fleet warnings of a model for a period (idempotent); return the new ones."""
        ...

    def acknowledge(self, warning_id: int, *, actor: str, note: str, at: datetime) -> StoredWarning:
        """Acknowledge an open warning (audited)."""
        ...

    def get(self, warning_id: int) -> StoredWarning:
        """One warning (NotFoundError if absent)."""
        ...

    def list_warnings(
        self, query: WarningQuery, *, before: int | None = None, limit: int = 100
    ) -> list[StoredWarning]:
        """Warnings matching ``query``, newest first, with ids below ``before``."""
        ...


class JobEnqueuer(Protocol):
    """The job queue, as far as triggering checks goes (``SqlStore.jobs``)."""

    def enqueue(self, job: NewJob, *, at: datetime, unless_running: bool = False) -> int | None:
        """Store ``job`` unless a job of the same dedupe key is queued."""
        ...


def check_job(device_id: str) -> NewJob:
    """The deduplicated job that runs ``device_id``'s checks."""
    if not device_id.strip():
        raise UsageError("a device id is needed to run its checks")
    return NewJob(CHECKS_JOB, {"device_id": device_id}, dedupe_key=f"{CHECKS_JOB}:{device_id}")


def after_ingest(jobs: JobEnqueuer, device_id: str, clock: Clock) -> int | None:
    """Queue the device's checks after an ingest committed (at most one queued job each).

    Cheap (one insert, deduplicated) and outside the ingest transaction; returns the
    job's key, or None when a check run of the device is already queued.  A store error
    is logged, not raised: the records are stored and acknowledged already, and the
    periodic timer judges every record no job has checked."""
    try:
        return jobs.enqueue(check_job(device_id), at=clock.now())
    except StoreError as exc:
        log.warning("could not queue the checks of device %s: %s", device_id, exc.message)
        return None


def default_controllers() -> ControllerRegistry:
    """The controller runners this backend trusts: the in-process reference controller and
    OpenAPS oref0 0.7.1 when Node.js and its modules are installed.

    Without oref0 its decisions are reported ``cannot_recompute`` (fail closed)."""
    from medwarden.telemetry.controllers.oref0 import Oref0Runner

    registry = ControllerRegistry(ProportionalBasalController())
    try:
        registry.register(Oref0Runner())
    except ConfigError as exc:
        log.warning("oref0 decisions cannot be re-computed: %s", exc.message)
    return registry


def time_based_registry() -> CheckRegistry:
    """The checks whose warnings can fall due without a new record (signal loss,
    unconfirmed commands): all a timer run needs when a device sent nothing new."""
    return CheckRegistry([StaleDataCheck(), CommandConfirmationCheck()])


def run_device_checks(
    warnings: WarningStore,
    device_id: str,
    *,
    controllers: ControllerRegistry,
    clock: Clock,
    registry: CheckRegistry | None = None,
    idle: CheckRegistry | None = None,
) -> list[StoredWarning]:
    """Run the closed-loop check registry over the device's unchecked records now; when
    there are none, only ``idle`` (default: :func:`time_based_registry`)."""
    checks = registry if registry is not None else closed_loop_registry(controllers)
    quiet = idle if idle is not None else time_based_registry()
    return warnings.run_device(device_id, checks, now=clock.now(), idle=quiet)


def run_timer(
    warnings: WarningStore, *, controllers: ControllerRegistry, clock: Clock
) -> TimerReport:
    """Run every active device's checks (time-based conditions fall due); one failing
    device does not stop the others, it is reported in :attr:`TimerReport.failed`."""
    checks, idle = closed_loop_registry(controllers), time_based_registry()
    report = TimerReport()
    for device_id in warnings.active_device_ids():
        try:
            found = run_device_checks(
                warnings,
                device_id,
                controllers=controllers,
                clock=clock,
                registry=checks,
                idle=idle,
            )
        except MedwardenError as exc:
            report.failed[device_id] = f"[{exc.code}] {exc.message}"
            log.warning("checks of device %s failed: %s", device_id, exc.message)
            continue
        report.new[device_id] = len(found)
        report.warnings.extend(found)
    return report


def fleet_period(today: date, days: int) -> tuple[date, date]:
    """The ``days`` full UTC days before ``today``: ``[today - days, today)``."""
    if days < 1:
        raise UsageError("the fleet period needs at least one day")
    return today - timedelta(days=days), today


def run_fleet_checks(
    warnings: WarningStore,
    *,
    clock: Clock,
    days: int = 7,
    baseline: Mapping[FleetMetric, float] | None = None,
) -> list[StoredWarning]:
    """Compare each software version's event rates with the fleet over the last ``days``
    full days, one device model at a time (its limits apply); store new fleet warnings."""
    now = clock.now()
    period = fleet_period(now.astimezone(UTC).date(), days)
    stored: list[StoredWarning] = []
    for found in warnings.fleet_inputs(*period):
        limits = DeviceLimits.from_mapping(found.limits)
        flagged = fleet_rate_warnings(found.days, limits, baseline=baseline)
        stored += warnings.store_fleet(found.model, flagged, period, now=now)
    return stored


def period_bounds(period: tuple[date, date]) -> tuple[datetime, datetime]:
    """The UTC instants a period of days covers, ``[start, end)``."""
    return (
        datetime.combine(period[0], time(0), tzinfo=UTC),
        datetime.combine(period[1], time(0), tzinfo=UTC),
    )


def acknowledge_warning(
    warnings: WarningStore, warning_id: int, *, actor: str, note: str, clock: Clock
) -> StoredWarning:
    """Acknowledge an open warning with a note (audited ``telemetry.warning_acknowledge``)."""
    text = note.strip()
    if not text:
        raise UsageError("an acknowledgement needs a note saying what was done")
    if len(text) > MAX_NOTE:
        raise UsageError(f"the note is longer than {MAX_NOTE} characters")
    return warnings.acknowledge(warning_id, actor=actor, note=text, at=clock.now())
