"""Alerts in table ``alert``: raise and clear, audited, at most one open per dedupe key.

:func:`raise_alert` and :func:`clear_alert` run inside the caller's write transaction
so that any check (monitoring liveness, end-of-support horizons) can raise its own
kind of alert together with the change that caused it.  Raising inserts with
``ON CONFLICT DO NOTHING`` against the partial unique index on open alerts, so two
checks racing on PostgreSQL still raise once; only the one that inserted appends the
audit event (``<area>.alert_raise``) and enqueues the notification.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, select, text, update

from medwarden.audit.model import EventDraft
from medwarden.notify.alerts import Alert, AlertDraft
from medwarden.notify.model import Notification
from medwarden.notify.render import rfc3339
from medwarden.store._ops import dialect_insert, from_json, product_pks, to_json
from medwarden.store.audit_repository import append_event
from medwarden.store.notification_repository import enqueue_notifications
from medwarden.store.schema_ops import alert
from medwarden.store.schema_portfolio import product

__all__ = ["alert_query", "clear_alert", "raise_alert", "row_alert"]

_OPEN = text("cleared_at IS NULL")  # the predicate of the partial unique index


def alert_query() -> Any:
    """``SELECT`` of alerts with their product's slug (``product_slug``)."""
    return select(alert, product.c.slug.label("product_slug")).outerjoin(
        product, product.c.pk == alert.c.product_pk
    )


def row_alert(row: RowMapping) -> Alert:
    """The domain alert of a row of :func:`alert_query`."""
    return Alert(
        pk=int(row["pk"]),
        kind=row["kind"],
        dedupe_key=row["dedupe_key"],
        product=row["product_slug"],
        raised_at=row["raised_at"],
        cleared_at=row["cleared_at"],
        detail=from_json(row["detail_json"]),
    )


def _described(item: Alert) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "product": item.product,
        "raised_at": rfc3339(item.raised_at),
        "cleared_at": None if item.cleared_at is None else rfc3339(item.cleared_at),
        "detail": item.detail,
    }


def raise_alert(
    conn: Connection,
    draft: AlertDraft,
    *,
    at: datetime,
    actor: str,
    notification: Notification | None = None,
    area: str = "monitoring",
) -> Alert | None:
    """Open an alert for ``draft`` inside ``conn``'s transaction; None if one is open.

    A newly opened alert is audited as ``<area>.alert_raise`` and ``notification``
    (if given) is enqueued in the same transaction."""
    pks = product_pks(conn, {draft.product} if draft.product else set())
    values = {
        "kind": draft.kind,
        "product_pk": pks.get(draft.product or ""),
        "dedupe_key": draft.dedupe_key,
        "raised_at": at,
        "detail_json": to_json(draft.detail),
    }
    stmt = (
        dialect_insert(conn, alert)
        .values(values)
        .on_conflict_do_nothing(index_elements=[alert.c.dedupe_key], index_where=_OPEN)
        .returning(alert.c.pk)
    )
    row = conn.execute(stmt).first()
    if row is None:
        return None
    raised = Alert(
        pk=int(row[0]),
        kind=draft.kind,
        dedupe_key=draft.dedupe_key,
        product=draft.product,
        raised_at=at,
        cleared_at=None,
        detail=dict(draft.detail),
    )
    append_event(
        conn,
        EventDraft(
            at=at,
            actor=actor,
            action=f"{area}.alert_raise",
            subject_type="alert",
            subject_id=draft.dedupe_key,
            after=_described(raised),
        ),
    )
    if notification is not None:
        enqueue_notifications(conn, [notification])
    return raised


def clear_alert(
    conn: Connection,
    dedupe_key: str,
    *,
    at: datetime,
    actor: str,
    reason: str | None = None,
    area: str = "monitoring",
) -> Alert | None:
    """Clear the open alert of ``dedupe_key`` (audited ``<area>.alert_clear``); None if none."""
    row = (
        conn.execute(
            alert_query().where(alert.c.dedupe_key == dedupe_key, alert.c.cleared_at.is_(None))
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    before = row_alert(row)
    done = conn.execute(
        update(alert)
        .where(alert.c.pk == before.pk, alert.c.cleared_at.is_(None))
        .values(cleared_at=at)
    )
    if done.rowcount == 0:  # cleared concurrently
        return None
    cleared = Alert(
        pk=before.pk,
        kind=before.kind,
        dedupe_key=before.dedupe_key,
        product=before.product,
        raised_at=before.raised_at,
        cleared_at=at,
        detail=before.detail,
    )
    append_event(
        conn,
        EventDraft(
            at=at,
            actor=actor,
            action=f"{area}.alert_clear",
            subject_type="alert",
            subject_id=dedupe_key,
            before=_described(before),
            after=_described(cleared),
            reason=reason,
        ),
    )
    return cleared
