"""Monitoring on a per-product schedule, every run recorded, and liveness alerts.

Each product has a ``monitoring_interval_s`` (default one day).  :func:`due_products`
names the products whose last *successful* run started longer ago than that (one
query for the whole portfolio); :func:`run_monitoring` records a run — started, then
ended with its outcome, the intelligence feed versions it saw and the counts the
evaluation returned — around an injected ``evaluate`` callable (the portfolio
re-evaluation); :func:`check_liveness` raises an alert (and enqueues a
``monitoring_liveness`` notification in the same transaction) for every product
without a successful run within ``factor`` (2) times its interval, and clears the
alert after the next success.  A run over the whole portfolio (``product_slugs``
None) counts for every product.  :func:`monitoring_tick` is what the scheduled job
does: due products, one run for them, then the liveness check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any, Protocol

from medwarden.core.clock import Clock
from medwarden.errors import MedwardenError, UsageError
from medwarden.notify.alerts import Alert, AlertDraft
from medwarden.notify.model import Notification, NotificationKind
from medwarden.notify.render import rfc3339
from medwarden.services.ports import SourceStatus

__all__ = [
    "LIVENESS_FACTOR",
    "LIVENESS_KIND",
    "SYSTEM_ACTOR",
    "AlertDecision",
    "LivenessReport",
    "MonitoringRepository",
    "MonitoringRun",
    "MonitoringStore",
    "ProductSchedule",
    "RunOutcome",
    "RunTrigger",
    "TickReport",
    "check_liveness",
    "due_products",
    "feed_versions",
    "liveness_decision",
    "liveness_key",
    "monitoring_tick",
    "run_monitoring",
]

LIVENESS_FACTOR = 2.0
"""An alert is raised when no run succeeded within this many monitoring intervals."""

LIVENESS_KIND = "monitoring_liveness"
"""The alert kind of the liveness check."""

SYSTEM_ACTOR = "medwarden-monitor"
"""The audit actor of scheduled monitoring (alerts raised and cleared by the check)."""

Counts = Mapping[str, int]
Evaluate = Callable[[], Counts]


class RunTrigger(StrEnum):
    """Why a monitoring run happened."""

    SCHEDULE = "schedule"
    INTEL_LOAD = "intel-load"
    MANUAL = "manual"


class RunOutcome(StrEnum):
    """Where a monitoring run stands."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class MonitoringRun:
    """A recorded run; ``products`` None is a run over the whole portfolio.

    A run over several products is stored as one row per product (``run_pks``)."""

    run_pks: tuple[int, ...]
    products: tuple[str, ...] | None
    trigger: RunTrigger
    started_at: datetime
    ended_at: datetime | None
    outcome: RunOutcome
    feed_versions: dict[str, Any] = field(default_factory=dict, hash=False)
    counts: dict[str, int] | None = field(default=None, hash=False)
    error_code: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ProductSchedule:
    """A product's monitoring interval and its last successful run (if any)."""

    slug: str
    interval: timedelta
    created_at: datetime
    last_success_at: datetime | None

    @property
    def silent_since(self) -> datetime:
        """Since when nothing succeeded: the last success, else the product's creation."""
        return self.last_success_at or self.created_at

    def is_due(self, now: datetime) -> bool:
        """Whether a run is due: never succeeded, or the last success is an interval old."""
        return self.last_success_at is None or now - self.last_success_at >= self.interval

    def is_stale(self, now: datetime, factor: float = LIVENESS_FACTOR) -> bool:
        """Whether no run succeeded within ``factor`` intervals (counted from creation)."""
        return now - self.silent_since > self.interval * factor


@dataclass(frozen=True, slots=True)
class AlertDecision:
    """What the liveness check wants for one key: raise ``alert`` (notifying) or clear it."""

    dedupe_key: str
    alert: AlertDraft | None = None
    notification: Notification | None = None


@dataclass(frozen=True, slots=True)
class LivenessReport:
    """What a liveness check did: products checked, alerts raised, cleared, still open."""

    checked: int
    raised: tuple[str, ...] = ()
    cleared: tuple[str, ...] = ()
    still_open: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TickReport:
    """What a scheduled tick did: the due products, their run, its error, the liveness."""

    due: tuple[str, ...]
    run: MonitoringRun | None
    error: str | None
    liveness: LivenessReport


class MonitoringRepository(Protocol):
    """What monitoring needs from the store (``SqlStore.monitoring``)."""

    def start_run(
        self,
        products: Sequence[str] | None,
        trigger: RunTrigger,
        at: datetime,
        feed_versions: Mapping[str, Any],
    ) -> tuple[int, ...]:
        """Record a run as started (one row per product, or one for the portfolio)."""
        ...

    def finish_run(
        self,
        run_pks: Sequence[int],
        at: datetime,
        outcome: RunOutcome,
        *,
        counts: Counts | None = None,
        error_code: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record the end of a run: outcome, counts or error."""
        ...

    def schedules(self) -> list[ProductSchedule]:
        """Every product's interval and last successful run, in one query."""
        ...

    def check_liveness(
        self,
        now: datetime,
        decide: Callable[[ProductSchedule], AlertDecision],
        *,
        kind: str,
        actor: str,
    ) -> LivenessReport:
        """Apply ``decide`` to every product in one transaction: raise or clear alerts."""
        ...

    def open_alerts(self, kind: str | None = None) -> list[Alert]:
        """The open alerts (of ``kind``, if given), oldest first."""
        ...


class MonitoringStore(Protocol):
    """A store with intelligence status and a monitoring repository."""

    @property
    def monitoring(self) -> MonitoringRepository:
        """Monitoring runs and alerts."""
        ...

    def status(self) -> list[SourceStatus]:
        """Counts and freshness per intelligence source."""
        ...


def feed_versions(status: Sequence[SourceStatus]) -> dict[str, Any]:
    """Per source: the newest record's ``modified`` and the last load time (RFC 3339)."""
    return {
        s.source: {
            "newest_modified": None if s.newest_modified is None else rfc3339(s.newest_modified),
            "last_loaded_at": None if s.last_loaded_at is None else rfc3339(s.last_loaded_at),
            "records": s.records,
        }
        for s in status
    }


def due_products(store: MonitoringStore, now: datetime) -> list[ProductSchedule]:
    """Products whose last successful run is at least their interval old (or never ran)."""
    return [s for s in store.monitoring.schedules() if s.is_due(now)]


def _counts(value: Counts) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key, number in value.items():
        if not isinstance(key, str) or isinstance(number, bool) or not isinstance(number, int):
            raise UsageError(
                f"monitoring counts must map names to integers, not {key!r}: {number!r}"
            )
        counts[key] = number
    return counts


def _failure(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, MedwardenError):
        return exc.code, exc.message
    return "internal", f"{type(exc).__name__}: {exc}"


def run_monitoring(
    store: MonitoringStore,
    product_slugs: Sequence[str] | None,
    evaluate: Evaluate,
    clock: Clock,
    trigger: RunTrigger = RunTrigger.MANUAL,
) -> MonitoringRun:
    """Run ``evaluate`` as a recorded monitoring run of ``product_slugs`` (None: all).

    The run is stored as started (with the feed versions of ``store.status()``)
    before ``evaluate`` is called, and as succeeded with its counts (``new``,
    ``changed``, ``resolved``, ...) afterwards.  If ``evaluate`` raises, the run is
    stored as failed with the error's code and message, and the error is re-raised."""
    if product_slugs is not None and not product_slugs:
        raise UsageError("a monitoring run needs at least one product (or None for all)")
    products = None if product_slugs is None else tuple(dict.fromkeys(product_slugs))
    started = clock.now()
    feeds = feed_versions(store.status())
    pks = store.monitoring.start_run(products, trigger, started, feeds)
    try:
        counts = _counts(evaluate())
    except BaseException as exc:
        code, message = _failure(exc)
        store.monitoring.finish_run(
            pks, clock.now(), RunOutcome.FAILED, error_code=code, error=message
        )
        raise
    ended = clock.now()
    store.monitoring.finish_run(pks, ended, RunOutcome.SUCCEEDED, counts=counts)
    return MonitoringRun(
        run_pks=pks,
        products=products,
        trigger=trigger,
        started_at=started,
        ended_at=ended,
        outcome=RunOutcome.SUCCEEDED,
        feed_versions=feeds,
        counts=counts,
    )


def liveness_key(slug: str) -> str:
    """The dedupe key of a product's liveness alert."""
    return f"{LIVENESS_KIND}:{slug}"


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:g} h"


def liveness_decision(
    schedule: ProductSchedule, now: datetime, factor: float = LIVENESS_FACTOR
) -> AlertDecision:
    """Raise (with a notification) when ``schedule`` is stale at ``now``; else clear."""
    key = liveness_key(schedule.slug)
    if not schedule.is_stale(now, factor):
        return AlertDecision(key)
    limit = schedule.interval * factor
    detail = {
        "product": schedule.slug,
        "interval_s": int(schedule.interval.total_seconds()),
        "factor": factor,
        "last_success_at": None
        if schedule.last_success_at is None
        else rfc3339(schedule.last_success_at),
        "silent_since": rfc3339(schedule.silent_since),
        "overdue_since": rfc3339(schedule.silent_since + limit),
    }
    subject = (
        f"No successful monitoring run for {schedule.slug} in {_hours(now - schedule.silent_since)}"
        f" (limit {_hours(limit)})"
    )
    notification = Notification(
        kind=NotificationKind.MONITORING_LIVENESS,
        at=now,
        subject=subject,
        dedupe_key=f"{key}:{rfc3339(schedule.silent_since)}",
        product=schedule.slug,
        payload=detail,
    )
    alert = AlertDraft(LIVENESS_KIND, key, product=schedule.slug, detail=detail)
    return AlertDecision(key, alert, notification)


def check_liveness(
    store: MonitoringStore,
    now: datetime,
    *,
    factor: float = LIVENESS_FACTOR,
    actor: str = SYSTEM_ACTOR,
) -> LivenessReport:
    """Raise a liveness alert per product with no successful run within ``factor`` intervals.

    One transaction: alerts are raised (audited ``monitoring.alert_raise``, with a
    ``monitoring_liveness`` notification in the outbox) or cleared after a success
    (``monitoring.alert_clear``); an alert already open is left alone."""
    if factor <= 0:
        raise UsageError("the liveness factor must be positive")
    decide = partial(liveness_decision, now=now, factor=factor)
    return store.monitoring.check_liveness(now, decide, kind=LIVENESS_KIND, actor=actor)


def monitoring_tick(
    store: MonitoringStore,
    clock: Clock,
    evaluate: Callable[[Sequence[str]], Counts],
    *,
    factor: float = LIVENESS_FACTOR,
    actor: str = SYSTEM_ACTOR,
) -> TickReport:
    """One scheduled pass: run the due products (one recorded run), then check liveness.

    A failing evaluation is recorded in its run and reported, not raised (the
    liveness check is what turns repeated failures into an alert); unexpected errors
    are raised after the liveness check ran."""
    due = tuple(s.slug for s in due_products(store, clock.now()))
    run: MonitoringRun | None = None
    error: str | None = None
    try:
        if due:
            run = run_monitoring(store, due, partial(evaluate, due), clock, RunTrigger.SCHEDULE)
    except MedwardenError as exc:
        error = f"[{exc.code}] {exc.message}"
    finally:
        liveness = check_liveness(store, clock.now(), factor=factor, actor=actor)
    return TickReport(due=due, run=run, error=error, liveness=liveness)
