"""Monitoring runs and alerts: :class:`SqlMonitoring` (``SqlStore.monitoring``).

:meth:`SqlMonitoring.schedules` reads every product's interval and last successful
run in one statement (a grouped subquery per product plus the newest successful
whole-portfolio run), so finding due or silent products costs one query whatever
the size of the portfolio.  :meth:`SqlMonitoring.check_liveness` applies a decision
function to every product inside one write transaction, raising and clearing alerts
through :mod:`medwarden.store.alert_repository`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, RowMapping, func, insert, select, update

from medwarden.core.clock import ensure_utc
from medwarden.notify.alerts import Alert, AlertDraft
from medwarden.notify.model import Notification
from medwarden.services.monitoring import (
    AlertDecision,
    LivenessReport,
    MonitoringRun,
    ProductSchedule,
    RunOutcome,
    RunTrigger,
)
from medwarden.store._batching import chunked
from medwarden.store._ops import as_utc, clip, from_json, product_pks, to_json
from medwarden.store.alert_repository import alert_query, clear_alert, raise_alert, row_alert
from medwarden.store.schema_ops import alert, monitoring_run
from medwarden.store.schema_portfolio import product as product_table

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["SqlMonitoring", "read_schedules"]


def read_schedules(conn: Connection) -> list[ProductSchedule]:
    """Every product's interval, creation time and last successful run, by slug."""
    r = monitoring_run.c
    succeeded = r.outcome == RunOutcome.SUCCEEDED.value
    per_product = (
        select(r.product_pk, func.max(r.started_at).label("last_success"))
        .where(succeeded, r.product_pk.is_not(None))
        .group_by(r.product_pk)
        .subquery()
    )
    portfolio = (
        select(func.max(r.started_at)).where(succeeded, r.product_pk.is_(None)).scalar_subquery()
    )
    query = (
        select(
            product_table.c.slug,
            product_table.c.monitoring_interval_s,
            product_table.c.created_at,
            per_product.c.last_success,
            portfolio.label("portfolio_success"),
        )
        .outerjoin(per_product, per_product.c.product_pk == product_table.c.pk)
        .order_by(product_table.c.slug)
    )
    schedules = []
    for slug, interval_s, created_at, own, whole in conn.execute(query):
        successes = [t for t in (as_utc(own), as_utc(whole)) if t is not None]
        schedules.append(
            ProductSchedule(
                slug=slug,
                interval=timedelta(seconds=int(interval_s)),
                created_at=ensure_utc(created_at),
                last_success_at=max(successes) if successes else None,
            )
        )
    return schedules


def _run(row: RowMapping) -> MonitoringRun:
    slug = row["product_slug"]
    return MonitoringRun(
        run_pks=(int(row["pk"]),),
        products=None if slug is None else (slug,),
        trigger=RunTrigger(row["trigger"]),
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        outcome=RunOutcome(row["outcome"]),
        feed_versions=from_json(row["feed_versions_json"]),
        counts=from_json(row["counts_json"]),
        error_code=row["error_code"],
        error=row["error"],
    )


class SqlMonitoring:
    """Monitoring runs, product schedules and alerts of the store."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def start_run(
        self,
        products: Sequence[str] | None,
        trigger: RunTrigger,
        at: datetime,
        feed_versions: Mapping[str, Any],
    ) -> tuple[int, ...]:
        """Record a run as started: one row per product, or one (NULL product) for all."""
        base = {
            "trigger": trigger.value,
            "started_at": at,
            "outcome": RunOutcome.RUNNING.value,
            "feed_versions_json": to_json(dict(feed_versions)),
        }
        with self._database.write("recording a monitoring run") as conn:
            if products is None:
                stmt = insert(monitoring_run).values(product_pk=None, **base)
                return (int(conn.execute(stmt.returning(monitoring_run.c.pk)).scalar_one()),)
            pks = product_pks(conn, set(products))
            rows = [{"product_pk": pks[slug], **base} for slug in dict.fromkeys(products)]
            stmt = (
                insert(monitoring_run)
                .values(rows)
                .returning(monitoring_run.c.pk, monitoring_run.c.product_pk)
            )
            by_product = {int(product_pk): int(pk) for pk, product_pk in conn.execute(stmt)}
            return tuple(by_product[pks[slug]] for slug in dict.fromkeys(products))

    def finish_run(
        self,
        run_pks: Sequence[int],
        at: datetime,
        outcome: RunOutcome,
        *,
        counts: Mapping[str, int] | None = None,
        error_code: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record the end of a run: its outcome and counts, or the error's code and text."""
        values = {
            "ended_at": at,
            "outcome": outcome.value,
            "counts_json": None if counts is None else to_json(dict(counts)),
            "error_code": error_code,
            "error": None if error is None else clip(error),
        }
        with self._database.write("recording the end of a monitoring run") as conn:
            for chunk in chunked(run_pks):
                conn.execute(
                    update(monitoring_run).where(monitoring_run.c.pk.in_(chunk)).values(values)
                )

    def runs(self, *, limit: int = 20, product: str | None = None) -> list[MonitoringRun]:
        """The latest ``limit`` runs (of ``product`` and whole-portfolio runs), newest first."""
        r = monitoring_run.c
        query = (
            select(monitoring_run, product_table.c.slug.label("product_slug"))
            .outerjoin(product_table, product_table.c.pk == r.product_pk)
            .order_by(r.started_at.desc(), r.pk.desc())
            .limit(limit)
        )
        if product is not None:
            query = query.where((product_table.c.slug == product) | r.product_pk.is_(None))
        with self._database.read("listing monitoring runs") as conn:
            return [_run(row) for row in conn.execute(query).mappings()]

    def schedules(self) -> list[ProductSchedule]:
        """Every product's interval and last successful run, in one query."""
        with self._database.read("reading monitoring schedules") as conn:
            return read_schedules(conn)

    def check_liveness(
        self,
        now: datetime,
        decide: Callable[[ProductSchedule], AlertDecision],
        *,
        kind: str,
        actor: str,
    ) -> LivenessReport:
        """Apply ``decide`` to every product in one write transaction.

        A decision with an alert raises it unless one is open for its key (audited,
        its notification enqueued); a decision without one clears an open alert."""
        raised: list[str] = []
        cleared: list[str] = []
        still_open: list[str] = []
        with self._database.write("checking monitoring liveness") as conn:
            schedules = read_schedules(conn)
            open_keys = set(
                conn.execute(
                    select(alert.c.dedupe_key).where(
                        alert.c.kind == kind, alert.c.cleared_at.is_(None)
                    )
                ).scalars()
            )
            for schedule in schedules:
                decision = decide(schedule)
                if decision.alert is not None:
                    if decision.dedupe_key in open_keys:
                        still_open.append(schedule.slug)
                    elif raise_alert(
                        conn,
                        decision.alert,
                        at=now,
                        actor=actor,
                        notification=decision.notification,
                    ):
                        raised.append(schedule.slug)
                elif decision.dedupe_key in open_keys and clear_alert(
                    conn,
                    decision.dedupe_key,
                    at=now,
                    actor=actor,
                    reason="a monitoring run succeeded",
                ):
                    cleared.append(schedule.slug)
        return LivenessReport(
            checked=len(schedules),
            raised=tuple(raised),
            cleared=tuple(cleared),
            still_open=tuple(still_open),
        )

    # -- alerts (generic: any kind, any audit area) ---------------------------------------

    def raise_alert(
        self,
        draft: AlertDraft,
        *,
        at: datetime,
        actor: str,
        notification: Notification | None = None,
        area: str = "monitoring",
    ) -> Alert | None:
        """:func:`~medwarden.store.alert_repository.raise_alert` in its own transaction."""
        with self._database.write("raising an alert") as conn:
            return raise_alert(
                conn, draft, at=at, actor=actor, notification=notification, area=area
            )

    def clear_alert(
        self,
        dedupe_key: str,
        *,
        at: datetime,
        actor: str,
        reason: str | None = None,
        area: str = "monitoring",
    ) -> Alert | None:
        """:func:`~medwarden.store.alert_repository.clear_alert` in its own transaction."""
        with self._database.write("clearing an alert") as conn:
            return clear_alert(conn, dedupe_key, at=at, actor=actor, reason=reason, area=area)

    def open_alerts(self, kind: str | None = None) -> list[Alert]:
        """The open alerts (of ``kind``, if given), oldest first."""
        query = alert_query().where(alert.c.cleared_at.is_(None))
        if kind is not None:
            query = query.where(alert.c.kind == kind)
        with self._database.read("listing open alerts") as conn:
            rows = conn.execute(query.order_by(alert.c.raised_at, alert.c.pk)).mappings()
            return [row_alert(row) for row in rows]

    def alerts(self, *, limit: int = 50) -> list[Alert]:
        """The latest ``limit`` alerts, open or cleared, newest first."""
        query = alert_query().order_by(alert.c.raised_at.desc(), alert.c.pk.desc()).limit(limit)
        with self._database.read("listing alerts") as conn:
            return [row_alert(row) for row in conn.execute(query).mappings()]
