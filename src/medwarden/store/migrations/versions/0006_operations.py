"""Operations: monitoring runs, alerts, notification outbox, jobs.

Partial unique indexes keep one *queued* job per dedupe key and one *open* alert per
dedupe key (both SQLite and PostgreSQL support ``CREATE UNIQUE INDEX ... WHERE``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ALERT_OPEN = "cleared_at IS NULL"
_JOB_QUEUED = "state = 'queued'"


def upgrade() -> None:
    """Create the job, notification, alert and monitoring tables."""
    op.create_table(
        "job",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("args_json", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.Text(), nullable=True),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_by", sa.Text(), nullable=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_job_state_known")
        ),
        sa.CheckConstraint("max_attempts >= 1", name=op.f("ck_job_max_attempts_positive")),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_job")),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_job_dedupe_key"),
            ["dedupe_key"],
            unique=True,
            sqlite_where=sa.text(_JOB_QUEUED),
            postgresql_where=sa.text(_JOB_QUEUED),
        )
        batch_op.create_index(
            batch_op.f("ix_job_state_run_after"), ["state", "run_after"], unique=False
        )

    op.create_table(
        "notification",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("dedupe_key", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("product", sa.Text(), nullable=True),
        sa.Column("severity", sa.Text(), nullable=True),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_notification")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notification_dedupe_key")),
    )
    op.create_table(
        "alert",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column(
            "product_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("dedupe_key", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detail_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_pk"], ["product.pk"], name=op.f("fk_alert_product_pk_product")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_alert")),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_dedupe_key"),
            ["dedupe_key"],
            unique=True,
            sqlite_where=sa.text(_ALERT_OPEN),
            postgresql_where=sa.text(_ALERT_OPEN),
        )
        batch_op.create_index(
            batch_op.f("ix_alert_kind_cleared_at"), ["kind", "cleared_at"], unique=False
        )

    op.create_table(
        "monitoring_run",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "product_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("feed_versions_json", sa.Text(), nullable=False),
        sa.Column("counts_json", sa.Text(), nullable=True),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('running', 'succeeded', 'failed')",
            name=op.f("ck_monitoring_run_outcome_known"),
        ),
        sa.CheckConstraint(
            "trigger IN ('schedule', 'intel-load', 'manual')",
            name=op.f("ck_monitoring_run_trigger_known"),
        ),
        sa.ForeignKeyConstraint(
            ["product_pk"], ["product.pk"], name=op.f("fk_monitoring_run_product_pk_product")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_monitoring_run")),
    )
    with op.batch_alter_table("monitoring_run", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_monitoring_run_product_pk_outcome_started_at"),
            ["product_pk", "outcome", "started_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_monitoring_run_started_at"), ["started_at"], unique=False
        )

    op.create_table(
        "notification_channel",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("min_severity", sa.Text(), nullable=False),
        sa.Column("kinds_json", sa.Text(), nullable=False),
        sa.Column(
            "product_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('webhook', 'email')", name=op.f("ck_notification_channel_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["product_pk"],
            ["product.pk"],
            name=op.f("fk_notification_channel_product_pk_product"),
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_notification_channel")),
        sa.UniqueConstraint("name", name=op.f("uq_notification_channel_name")),
    )
    op.create_table(
        "notification_delivery",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "notification_pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "channel_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.Text(), nullable=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'delivered', 'dead')",
            name=op.f("ck_notification_delivery_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["channel_pk"],
            ["notification_channel.pk"],
            name=op.f("fk_notification_delivery_channel_pk_notification_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["notification_pk"],
            ["notification.pk"],
            name=op.f("fk_notification_delivery_notification_pk_notification"),
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_notification_delivery")),
        sa.UniqueConstraint(
            "notification_pk",
            "channel_pk",
            name=op.f("uq_notification_delivery_notification_pk_channel_pk"),
        ),
    )
    with op.batch_alter_table("notification_delivery", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_delivery_channel_pk"), ["channel_pk"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notification_delivery_state_next_attempt_at"),
            ["state", "next_attempt_at"],
            unique=False,
        )


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("notification_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_delivery_state_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_notification_delivery_channel_pk"))

    op.drop_table("notification_delivery")
    op.drop_table("notification_channel")
    with op.batch_alter_table("monitoring_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitoring_run_started_at"))
        batch_op.drop_index(batch_op.f("ix_monitoring_run_product_pk_outcome_started_at"))

    op.drop_table("monitoring_run")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_kind_cleared_at"))
        batch_op.drop_index(
            batch_op.f("ix_alert_dedupe_key"),
            sqlite_where=sa.text(_ALERT_OPEN),
            postgresql_where=sa.text(_ALERT_OPEN),
        )

    op.drop_table("alert")
    op.drop_table("notification")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_state_run_after"))
        batch_op.drop_index(
            batch_op.f("ix_job_dedupe_key"),
            sqlite_where=sa.text(_JOB_QUEUED),
            postgresql_where=sa.text(_JOB_QUEUED),
        )

    op.drop_table("job")
