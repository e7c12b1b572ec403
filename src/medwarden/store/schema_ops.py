"""The tables of operations: monitoring runs, alerts, notifications, jobs (migration 0006).

``notification`` is a transactional outbox: a use case inserts its notifications in
the same transaction as the change that caused them, together with one
``notification_delivery`` row per channel that wants each of them; workers claim due
deliveries and record every attempt.  ``job`` is the work queue those workers poll
(``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL).  Partial unique indexes keep
one *queued* job per dedupe key and one *open* alert per dedupe key.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from medwarden.store._metadata import METADATA, PK, UtcDateTime

__all__ = [
    "alert",
    "job",
    "monitoring_run",
    "notification",
    "notification_channel",
    "notification_delivery",
]

_ALERT_OPEN = "cleared_at IS NULL"
_JOB_QUEUED = "state = 'queued'"

notification_channel = Table(
    "notification_channel",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("secret", Text),
    Column("min_severity", Text, nullable=False),
    Column("kinds_json", Text, nullable=False),
    Column("product_pk", PK, ForeignKey("product.pk")),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("kind IN ('webhook', 'email')", name="kind_known"),
)
"""Where notifications go (webhook URL or e-mail address) and which ones each wants."""

notification = Table(
    "notification",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("dedupe_key", Text, nullable=False, unique=True),
    Column("event_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("subject", Text, nullable=False),
    Column("product", Text),
    Column("severity", Text),
    Column("payload_json", Text, nullable=False),
)
"""The outbox: one row per notification ever enqueued (``dedupe_key`` makes it idempotent)."""

notification_delivery = Table(
    "notification_delivery",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("notification_pk", PK, ForeignKey("notification.pk"), nullable=False),
    Column("channel_pk", PK, ForeignKey("notification_channel.pk"), nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("locked_by", Text),
    Column("locked_at", UtcDateTime),
    Column("last_error", Text),
    Column("delivered_at", UtcDateTime),
    UniqueConstraint("notification_pk", "channel_pk"),
    Index(None, "state", "next_attempt_at"),
    Index(None, "channel_pk"),
    CheckConstraint("state IN ('pending', 'delivered', 'dead')", name="state_known"),
)
"""One notification for one channel: attempts so far, when to try next, the last error."""

job = Table(
    "job",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),
    Column("args_json", Text, nullable=False),
    Column("dedupe_key", Text),
    Column("run_after", UtcDateTime, nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("locked_by", Text),
    Column("locked_at", UtcDateTime),
    Column("last_error", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Index(None, "state", "run_after"),
    Index(
        None,
        "dedupe_key",
        unique=True,
        sqlite_where=text(_JOB_QUEUED),
        postgresql_where=text(_JOB_QUEUED),
    ),
    CheckConstraint("state IN ('queued', 'running', 'done', 'failed')", name="state_known"),
    CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
)
"""The work queue: kind + JSON args, due time, state, attempts and the worker's lease."""

monitoring_run = Table(
    "monitoring_run",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    # NULL: a run over the whole portfolio (it counts for every product).
    Column("product_pk", PK, ForeignKey("product.pk")),
    Column("trigger", Text, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    Column("outcome", Text, nullable=False),
    Column("feed_versions_json", Text, nullable=False),
    Column("counts_json", Text),
    Column("error_code", Text),
    Column("error", Text),
    Index(None, "product_pk", "outcome", "started_at"),
    Index(None, "started_at"),
    CheckConstraint("trigger IN ('schedule', 'intel-load', 'manual')", name="trigger_known"),
    CheckConstraint("outcome IN ('running', 'succeeded', 'failed')", name="outcome_known"),
)
"""Every monitoring run: when, why, for which product, the feed versions it saw, the result."""

alert = Table(
    "alert",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),
    Column("product_pk", PK, ForeignKey("product.pk")),
    Column("dedupe_key", Text, nullable=False),
    Column("raised_at", UtcDateTime, nullable=False),
    Column("cleared_at", UtcDateTime),
    Column("detail_json", Text, nullable=False),
    Index(
        None,
        "dedupe_key",
        unique=True,
        sqlite_where=text(_ALERT_OPEN),
        postgresql_where=text(_ALERT_OPEN),
    ),
    Index(None, "kind", "cleared_at"),
)
"""Conditions that stay open until cleared (liveness, end of support); one open per key."""
