"""The notification outbox, its channels and deliveries.

:func:`enqueue_notifications` is what other repositories call *inside their own
write transaction* (the transactional-outbox pattern): a finding and the
notification about it commit together or not at all, and a worker delivers later.
Enqueuing is idempotent on ``dedupe_key`` (``INSERT ... ON CONFLICT DO NOTHING``, so
concurrent writers cannot both insert it either) and creates one
``notification_delivery`` per enabled channel that accepts the notification
(:meth:`~medwarden.notify.model.Channel.accepts`: kind subscribed, severity at or
above the threshold, product filter).  It also makes sure a ``deliver_notifications``
job is queued.  Statements per call depend on the number of 500-row chunks, never on
the number of notifications.

:class:`SqlNotifications` manages channels (every change audited in the same
transaction; the secret never appears in an event) and lets workers claim due
deliveries and record each attempt's outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, RowMapping, and_, func, or_, select, update

from medwarden.audit.model import EventDraft
from medwarden.errors import ConflictError, NotFoundError
from medwarden.intel.cvss import SeverityRating
from medwarden.notify.model import (
    Channel,
    ChannelKind,
    Delivery,
    DeliveryState,
    Notification,
    NotificationKind,
    event_id_for,
)
from medwarden.services.jobs import NewJob
from medwarden.store._batching import chunked
from medwarden.store._bulk import bulk_insert
from medwarden.store._ops import as_utc, clip, dialect_insert, from_json, product_pks, to_json
from medwarden.store.audit_repository import append_event
from medwarden.store.job_repository import enqueue_job
from medwarden.store.schema_ops import notification, notification_channel, notification_delivery
from medwarden.store.schema_portfolio import product

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = [
    "DELIVERY_LEASE",
    "DELIVER_JOB",
    "SqlNotifications",
    "enqueue_notifications",
]

DELIVER_JOB = "deliver_notifications"
"""The kind of job that delivers due notifications."""

DELIVERY_LEASE = timedelta(minutes=5)
"""How long a claimed delivery belongs to its worker (longer than any send can take)."""

_DELIVER_KEY = "notify:deliver"


def _channel_query() -> Any:
    ch = notification_channel.c
    return select(notification_channel, product.c.slug.label("product_slug")).outerjoin(
        product, product.c.pk == ch.product_pk
    )


def _channel(row: RowMapping, prefix: str = "") -> Channel:
    return Channel(
        name=row[f"{prefix}name"],
        kind=ChannelKind(row[f"{prefix}kind"]),
        target=row[f"{prefix}target"],
        secret=row[f"{prefix}secret"],
        min_severity=SeverityRating(row[f"{prefix}min_severity"]),
        kinds=frozenset(NotificationKind(k) for k in from_json(row[f"{prefix}kinds_json"])),
        product=row["product_slug"],
        enabled=bool(row[f"{prefix}enabled"]),
    )


def _notification_row(item: Notification) -> dict[str, Any]:
    return {
        "dedupe_key": item.dedupe_key,
        "event_id": event_id_for(item.dedupe_key),
        "kind": item.kind.value,
        "at": item.at,
        "subject": item.subject,
        "product": item.product,
        "severity": None if item.severity is None else item.severity.value,
        "payload_json": to_json(item.payload),
    }


def _notification(row: RowMapping) -> Notification:
    return Notification(
        kind=NotificationKind(row["kind"]),
        at=row["at"],
        subject=row["subject"],
        dedupe_key=row["dedupe_key"],
        product=row["product"],
        severity=None if row["severity"] is None else SeverityRating(row["severity"]),
        payload=from_json(row["payload_json"]),
    )


def _insert_new(conn: Connection, fresh: Sequence[Notification]) -> dict[str, int]:
    """Insert what is not stored yet; return the key of each inserted dedupe key."""
    inserted: dict[str, int] = {}
    for chunk in chunked(fresh):
        keys = [n.dedupe_key for n in chunk]
        stored = set(
            conn.execute(
                select(notification.c.dedupe_key).where(notification.c.dedupe_key.in_(keys))
            ).scalars()
        )
        rows = [_notification_row(n) for n in chunk if n.dedupe_key not in stored]
        if not rows:
            continue
        stmt = (
            dialect_insert(conn, notification)
            .values(rows)
            .on_conflict_do_nothing(index_elements=[notification.c.dedupe_key])
            .returning(notification.c.pk, notification.c.dedupe_key)
        )
        inserted.update({key: int(pk) for pk, key in conn.execute(stmt)})
    return inserted


def enqueue_notifications(conn: Connection, notifications: Sequence[Notification]) -> int:
    """Put ``notifications`` in the outbox inside ``conn``'s transaction; return how many.

    A notification whose ``dedupe_key`` is already stored (or repeated in the batch)
    is skipped, so enqueuing the same event twice delivers it once.  Each new one gets
    a pending delivery for every enabled channel that accepts it, due at its ``at``;
    if any delivery was created a ``deliver_notifications`` job is queued (once)."""
    first_of_key: dict[str, Notification] = {}
    for item in notifications:
        first_of_key.setdefault(item.dedupe_key, item)
    fresh = list(first_of_key.values())
    if not fresh:
        return 0
    inserted = _insert_new(conn, fresh)
    if not inserted:
        return 0
    enabled = _channel_query().where(notification_channel.c.enabled.is_(True))
    channels = [(int(row["pk"]), _channel(row)) for row in conn.execute(enabled).mappings()]
    deliveries = [
        {
            "notification_pk": inserted[item.dedupe_key],
            "channel_pk": channel_pk,
            "state": DeliveryState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": item.at,
        }
        for item in fresh
        if item.dedupe_key in inserted
        for channel_pk, channel in channels
        if channel.accepts(item)
    ]
    bulk_insert(conn, notification_delivery, deliveries)
    if deliveries:
        first = min(item.at for item in fresh if item.dedupe_key in inserted)
        enqueue_job(conn, NewJob(DELIVER_JOB, run_after=first, dedupe_key=_DELIVER_KEY), at=first)
    return len(inserted)


class SqlNotifications:
    """Channels, the outbox and deliveries, stored in the ``notification*`` tables."""

    def __init__(self, database: Database) -> None:
        self._database = database

    # -- channels ------------------------------------------------------------------------

    def add_channel(self, channel: Channel, *, actor: str, at: datetime) -> Channel:
        """Store a new channel (audited ``notify.channel_add``); its name must be new."""
        with self._database.write("adding a notification channel") as conn:
            pks = product_pks(conn, {channel.product} if channel.product else set())
            values = {
                "name": channel.name,
                "kind": channel.kind.value,
                "target": channel.target,
                "secret": channel.secret,
                "min_severity": channel.min_severity.value,
                "kinds_json": to_json(sorted(k.value for k in channel.kinds)),
                "product_pk": pks.get(channel.product or ""),
                "enabled": channel.enabled,
                "created_at": at,
                "updated_at": at,
            }
            stmt = (
                dialect_insert(conn, notification_channel)
                .values(values)
                .on_conflict_do_nothing(index_elements=[notification_channel.c.name])
                .returning(notification_channel.c.pk)
            )
            if conn.execute(stmt).first() is None:
                raise ConflictError(
                    f"a notification channel named {channel.name!r} exists already",
                    hint="choose another name, or disable the existing channel",
                )
            append_event(conn, _channel_event(at, actor, "notify.channel_add", channel, None))
        return channel

    def channels(self) -> list[Channel]:
        """Every channel, enabled or not, by name."""
        with self._database.read("listing notification channels") as conn:
            rows = conn.execute(_channel_query().order_by(notification_channel.c.name))
            return [_channel(row) for row in rows.mappings()]

    def channel(self, name: str) -> Channel:
        """The channel called ``name`` (secret included, for sending)."""
        with self._database.read("reading a notification channel") as conn:
            return _channel(_channel_row(conn, name))

    def set_channel_enabled(
        self, name: str, enabled: bool, *, actor: str, at: datetime, reason: str | None = None
    ) -> Channel:
        """Enable or disable a channel (audited ``notify.channel_enable``/``_disable``).

        Pending deliveries of a disabled channel wait; enabling it sends them."""
        with self._database.write("changing a notification channel") as conn:
            row = _channel_row(conn, name)
            before = _channel(row)
            if before.enabled == enabled:
                return before
            conn.execute(
                update(notification_channel)
                .where(notification_channel.c.pk == row["pk"])
                .values(enabled=enabled, updated_at=at)
            )
            after = _channel(_channel_row(conn, name))
            action = "notify.channel_enable" if enabled else "notify.channel_disable"
            append_event(conn, _channel_event(at, actor, action, after, before, reason))
            return after

    # -- outbox --------------------------------------------------------------------------

    def enqueue(self, notifications: Sequence[Notification]) -> int:
        """:func:`enqueue_notifications` in a transaction of its own."""
        with self._database.write("enqueuing notifications") as conn:
            return enqueue_notifications(conn, notifications)

    def claim_due_deliveries(
        self, worker: str, limit: int, now: datetime, *, lease: timedelta = DELIVERY_LEASE
    ) -> list[Delivery]:
        """Take up to ``limit`` pending deliveries due at ``now`` to enabled channels.

        PostgreSQL skips rows other workers hold (``FOR UPDATE SKIP LOCKED``); SQLite
        serialises claims with its write lock.  A delivery claimed longer than ``lease``
        ago (its worker died) is due again."""
        if limit < 1:
            return []
        d = notification_delivery.c
        due = and_(
            d.state == DeliveryState.PENDING.value,
            d.next_attempt_at <= now,
            or_(d.locked_at.is_(None), d.locked_at <= now - lease),
            notification_channel.c.enabled.is_(True),
        )
        query = (
            select(d.pk)
            .join(notification_channel, notification_channel.c.pk == d.channel_pk)
            .where(due)
            .order_by(d.next_attempt_at, d.pk)
            .limit(limit)
        )
        with self._database.write("claiming notification deliveries") as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(of=notification_delivery, skip_locked=True)
            pks = list(conn.execute(query).scalars())
            if not pks:
                return []
            conn.execute(
                update(notification_delivery)
                .where(d.pk.in_(pks))
                .values(locked_by=worker, locked_at=now)
            )
            return _deliveries(conn, pks)

    def mark_delivered(self, pk: int, worker: str, at: datetime) -> bool:
        """Record a successful attempt; False if ``worker`` no longer holds the delivery."""
        return self._finish(
            pk,
            worker,
            state=DeliveryState.DELIVERED,
            values={"delivered_at": at, "last_error": None},
        )

    def mark_failed(
        self, pk: int, worker: str, error: str, *, next_attempt_at: datetime | None
    ) -> bool:
        """Record a failed attempt: retry at ``next_attempt_at``, or dead when it is None."""
        if next_attempt_at is None:
            return self._finish(
                pk, worker, state=DeliveryState.DEAD, values={"last_error": clip(error)}
            )
        return self._finish(
            pk,
            worker,
            state=DeliveryState.PENDING,
            values={"last_error": clip(error), "next_attempt_at": next_attempt_at},
        )

    def _finish(
        self, pk: int, worker: str, *, state: DeliveryState, values: dict[str, Any]
    ) -> bool:
        d = notification_delivery.c
        with self._database.write("recording a delivery attempt") as conn:
            done = conn.execute(
                update(notification_delivery)
                .where(d.pk == pk, d.locked_by == worker, d.state == DeliveryState.PENDING.value)
                .values(
                    state=state.value,
                    attempts=d.attempts + 1,
                    locked_by=None,
                    locked_at=None,
                    **values,
                )
            )
            return done.rowcount > 0

    def next_due_at(self) -> datetime | None:
        """When the earliest pending delivery to an enabled channel is due (None: none)."""
        d = notification_delivery.c
        query = (
            select(func.min(d.next_attempt_at))
            .join(notification_channel, notification_channel.c.pk == d.channel_pk)
            .where(d.state == DeliveryState.PENDING.value, notification_channel.c.enabled)
        )
        with self._database.read("reading the next delivery time") as conn:
            return as_utc(conn.execute(query).scalar_one())

    def delivery_counts(self) -> dict[DeliveryState, int]:
        """How many deliveries are in each state."""
        d = notification_delivery.c
        with self._database.read("counting deliveries") as conn:
            rows = conn.execute(select(d.state, func.count()).group_by(d.state)).all()
        found = {DeliveryState(state): int(n) for state, n in rows}
        return {state: found.get(state, 0) for state in DeliveryState}


def _channel_row(conn: Connection, name: str) -> RowMapping:
    row = (
        conn.execute(_channel_query().where(notification_channel.c.name == name)).mappings().first()
    )
    if row is None:
        raise NotFoundError(
            f"no notification channel {name!r}",
            hint="list them with `medwarden notify channel list`",
        )
    return row


def _deliveries(conn: Connection, pks: Sequence[int]) -> list[Delivery]:
    d, n, ch = notification_delivery.c, notification.c, notification_channel.c
    query = (
        select(
            d.pk.label("delivery_pk"),
            d.attempts.label("delivery_attempts"),
            n.event_id,
            n.dedupe_key,
            n.kind,
            n.at,
            n.subject,
            n.product,
            n.severity,
            n.payload_json,
            *(col.label(f"ch_{col.name}") for col in notification_channel.c),
            product.c.slug.label("product_slug"),
        )
        .join(notification, n.pk == d.notification_pk)
        .join(notification_channel, ch.pk == d.channel_pk)
        .outerjoin(product, product.c.pk == ch.product_pk)
        .where(d.pk.in_(pks))
        .order_by(d.next_attempt_at, d.pk)
    )
    return [
        Delivery(
            pk=int(row["delivery_pk"]),
            event_id=row["event_id"],
            notification=_notification(row),
            channel=_channel(row, prefix="ch_"),
            attempts=int(row["delivery_attempts"]),
        )
        for row in conn.execute(query).mappings()
    ]


def _channel_event(
    at: datetime,
    actor: str,
    action: str,
    after: Channel,
    before: Channel | None,
    reason: str | None = None,
) -> EventDraft:
    """The audit event of a channel change: :meth:`Channel.describe`, never the secret."""
    return EventDraft(
        at=at,
        actor=actor,
        action=action,
        subject_type="notification_channel",
        subject_id=after.name,
        before=None if before is None else before.describe(),
        after=after.describe(),
        reason=reason,
    )
