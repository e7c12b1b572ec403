"""The built-in job handlers: deliver notifications, the monitoring tick, telemetry checks.

``deliver_notifications`` sends every due delivery of the outbox and, when retries
remain, enqueues itself again for the earliest one.  ``monitoring_tick`` runs
monitoring for the due products and then the liveness check.  The evaluation a
monitoring run performs is injected (``evaluate``); by default it is the portfolio
surveillance pass (delta re-evaluation, end-of-support alerts).  ``telemetry_checks``
runs one device's early-warning checks (queued after each ingest),
``telemetry_checks_timer`` every active device's, ``telemetry_fleet_checks`` the fleet
rates; their controller runners are injected (``controllers``) or, by default, created
per job and closed after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx

from medwarden.core.clock import Clock
from medwarden.errors import UsageError
from medwarden.jobs.worker import JobHandler
from medwarden.services.jobs import Job, NewJob
from medwarden.services.monitoring import LIVENESS_FACTOR, monitoring_tick
from medwarden.services.notifications import DeliveryPolicy, SmtpSettings, deliver_due
from medwarden.services.telemetry_checks import (
    CHECKS_JOB,
    FLEET_JOB,
    TIMER_JOB,
    default_controllers,
    run_device_checks,
    run_fleet_checks,
    run_timer,
)
from medwarden.store.notification_repository import DELIVER_JOB

if TYPE_CHECKING:
    from medwarden.store.intel_repository import SqlStore
    from medwarden.telemetry.controllers.registry import ControllerRegistry

__all__ = [
    "DEFAULT_PERIODIC",
    "DELIVER_JOB",
    "MONITORING_TICK",
    "builtin_handlers",
    "portfolio_surveillance",
    "record_feeds_only",
    "telemetry_handlers",
]

log = logging.getLogger(__name__)

MONITORING_TICK = "monitoring_tick"
"""The kind of job that runs due monitoring and the liveness check."""

DEFAULT_PERIODIC: Mapping[str, timedelta] = {
    MONITORING_TICK: timedelta(minutes=15),
    DELIVER_JOB: timedelta(minutes=5),
    TIMER_JOB: timedelta(minutes=5),
    FLEET_JOB: timedelta(days=1),
}
"""How often ``medwarden worker run`` schedules each built-in job (a safety net for
deliveries, which the outbox schedules itself)."""

Evaluate = Callable[[Sequence[str]], Mapping[str, int]]


def record_feeds_only(products: Sequence[str]) -> Mapping[str, int]:
    """An evaluation that does nothing but let the run record the feed versions it saw."""
    return {}


def portfolio_surveillance(store: SqlStore, clock: Clock) -> Evaluate:
    """The evaluation of a monitoring run: re-evaluate the portfolio against changed
    intelligence, then raise and clear end-of-support alerts (the pass covers every
    product; the run is recorded for the due ones)."""
    from medwarden.services.surveillance import surveillance_pass

    def evaluate(products: Sequence[str]) -> Mapping[str, int]:
        return surveillance_pass(
            store.portfolio, store, store.monitoring, store.portfolio, store.triage, clock=clock
        )

    return evaluate


def _deliver(
    job: Job,
    *,
    store: SqlStore,
    clock: Clock,
    client: httpx.Client,
    smtp: SmtpSettings | None,
    policy: DeliveryPolicy,
) -> None:
    worker = job.locked_by or "worker"
    report = deliver_due(
        store.notifications, clock, worker=worker, client=client, smtp=smtp, policy=policy
    )
    log.info(
        "deliveries: %d delivered, %d to retry, %d dead, %d lost",
        report.delivered,
        report.retried,
        report.dead,
        report.lost,
    )
    if report.next_due_at is not None:
        follow = NewJob(DELIVER_JOB, run_after=report.next_due_at, dedupe_key="notify:deliver")
        store.jobs.enqueue(follow, at=clock.now())


def _tick(job: Job, *, store: SqlStore, clock: Clock, evaluate: Evaluate, factor: float) -> None:
    report = monitoring_tick(store, clock, evaluate, factor=factor)
    log.info(
        "monitoring tick: %d due, error %s; liveness raised %s, cleared %s",
        len(report.due),
        report.error or "none",
        ",".join(report.liveness.raised) or "-",
        ",".join(report.liveness.cleared) or "-",
    )


def builtin_handlers(
    store: SqlStore,
    clock: Clock,
    *,
    client: httpx.Client,
    smtp: SmtpSettings | None = None,
    evaluate: Evaluate | None = None,
    policy: DeliveryPolicy | None = None,
    liveness_factor: float = LIVENESS_FACTOR,
    controllers: ControllerRegistry | None = None,
) -> dict[str, JobHandler]:
    """The handlers of ``deliver_notifications``, ``monitoring_tick`` and the telemetry
    checks (:func:`telemetry_handlers`), bound to a store.

    Pass them (possibly with more of your own) to
    :func:`~medwarden.jobs.worker.run_worker`."""

    def deliver(job: Job) -> None:
        _deliver(
            job,
            store=store,
            clock=clock,
            client=client,
            smtp=smtp,
            policy=policy or DeliveryPolicy(),
        )

    def tick(job: Job) -> None:
        _tick(
            job,
            store=store,
            clock=clock,
            evaluate=evaluate or portfolio_surveillance(store, clock),
            factor=liveness_factor,
        )

    return {
        DELIVER_JOB: deliver,
        MONITORING_TICK: tick,
        **telemetry_handlers(store, clock, controllers=controllers),
    }


@contextmanager
def _runners(given: ControllerRegistry | None) -> Iterator[ControllerRegistry]:
    """The injected controller runners, or default ones closed after the job."""
    if given is not None:
        yield given
        return
    with default_controllers() as made:
        yield made


def telemetry_handlers(
    store: SqlStore, clock: Clock, *, controllers: ControllerRegistry | None = None
) -> dict[str, JobHandler]:
    """The handlers of ``telemetry_checks``, ``telemetry_checks_timer`` and
    ``telemetry_fleet_checks`` (see :mod:`medwarden.services.telemetry_checks`)."""

    def device_checks(job: Job) -> None:
        device_id = job.args.get("device_id")
        if not isinstance(device_id, str):
            raise UsageError(f"job {job.pk} names no device_id")
        with _runners(controllers) as runners:
            found = run_device_checks(store.warnings, device_id, controllers=runners, clock=clock)
        log.info("checks of device %s: %d new warnings", device_id, len(found))

    def timer(job: Job) -> None:
        with _runners(controllers) as runners:
            report = run_timer(store.warnings, controllers=runners, clock=clock)
        log.info(
            "check timer: %d devices, %d new warnings, %d failed",
            len(report.new) + len(report.failed),
            sum(report.new.values()),
            len(report.failed),
        )

    def fleet(job: Job) -> None:
        found = run_fleet_checks(store.warnings, clock=clock)
        log.info("fleet rates: %d new warnings", len(found))

    return {CHECKS_JOB: device_checks, TIMER_JOB: timer, FLEET_JOB: fleet}
