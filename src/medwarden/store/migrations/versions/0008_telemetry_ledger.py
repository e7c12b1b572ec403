"""Closed-loop backend: device registry and keys, telemetry records, ledger, security events.

Every telemetry table's primary key and unique constraints start with ``device_pk`` so that
PostgreSQL can partition them by device later (see ``schema_telemetry``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the device, key, chain, record, ledger and event tables."""
    op.create_table(
        "device_model",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("limits_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_device_model")),
        sa.UniqueConstraint("name", name=op.f("uq_device_model_name")),
    )
    op.create_table(
        "server_key",
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_server_key")),
    )
    op.create_table(
        "device",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("device_id", sa.Text(), nullable=False),
        sa.Column("model_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("serial", sa.Text(), nullable=False),
        sa.Column("software_version", sa.Text(), nullable=False),
        sa.Column("firmware_version", sa.Text(), nullable=True),
        sa.Column("controller_algorithm", sa.Text(), nullable=True),
        sa.Column("controller_version", sa.Text(), nullable=True),
        sa.Column(
            "release_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("patient_ref", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("credential_sha256", sa.Text(), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('active', 'retired')", name=op.f("ck_device_status_known")),
        sa.ForeignKeyConstraint(
            ["model_pk"], ["device_model.pk"], name=op.f("fk_device_model_pk_device_model")
        ),
        sa.ForeignKeyConstraint(
            ["release_pk"], ["release.pk"], name=op.f("fk_device_release_pk_release")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_device")),
        sa.UniqueConstraint("credential_sha256", name=op.f("uq_device_credential_sha256")),
        sa.UniqueConstraint("device_id", name=op.f("uq_device_device_id")),
    )
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_release_pk"), ["release_pk"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_device_software_version"), ["software_version"], unique=False
        )

    op.create_table(
        "device_chain",
        sa.Column(
            "device_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("state_json", sa.Text(), nullable=True),
        sa.Column("ledger_size", sa.BigInteger(), nullable=False),
        sa.Column("frontier", sa.LargeBinary(), nullable=False),
        sa.Column("last_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_pk"], ["device.pk"], name=op.f("fk_device_chain_device_pk_device")
        ),
        sa.PrimaryKeyConstraint("device_pk", name=op.f("pk_device_chain")),
    )
    op.create_table(
        "device_key",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "device_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('active', 'rotated', 'revoked')", name=op.f("ck_device_key_state_known")
        ),
        sa.ForeignKeyConstraint(
            ["device_pk"], ["device.pk"], name=op.f("fk_device_key_device_pk_device")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_device_key")),
        sa.UniqueConstraint("device_pk", "key_id", name=op.f("uq_device_key_device_pk_key_id")),
    )
    with op.batch_alter_table("device_key", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_key_device_pk"),
            ["device_pk"],
            unique=True,
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        )

    op.create_table(
        "ledger_checkpoint",
        sa.Column(
            "device_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_pk"], ["device.pk"], name=op.f("fk_ledger_checkpoint_device_pk_device")
        ),
        sa.PrimaryKeyConstraint("device_pk", "tree_size", name=op.f("pk_ledger_checkpoint")),
    )
    op.create_table(
        "ledger_node",
        sa.Column(
            "device_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_pk"], ["device.pk"], name=op.f("fk_ledger_node_device_pk_device")
        ),
        sa.PrimaryKeyConstraint("device_pk", "level", "idx", name=op.f("pk_ledger_node")),
    )
    op.create_table(
        "telemetry_event",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("device_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("device_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("transport", sa.Text(), nullable=False),
        sa.Column("boot_id", sa.Text(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("record_hash", sa.Text(), nullable=True),
        sa.Column("missing_lo", sa.BigInteger(), nullable=True),
        sa.Column("missing_hi", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_pk"], ["device.pk"], name=op.f("fk_telemetry_event_device_pk_device")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_telemetry_event")),
    )
    with op.batch_alter_table("telemetry_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_telemetry_event_device_pk_pk"), ["device_pk", "pk"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_telemetry_event_kind_pk"), ["kind", "pk"], unique=False
        )

    op.create_table(
        "telemetry_record",
        sa.Column(
            "device_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ledger_index", sa.BigInteger(), nullable=False),
        sa.Column("boot_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("device_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record_type", sa.Text(), nullable=False),
        sa.Column("record_hash", sa.Text(), nullable=False),
        sa.Column("record_json", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("receipt_sig", sa.LargeBinary(), nullable=False),
        sa.Column("receipt_key_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_pk"], ["device.pk"], name=op.f("fk_telemetry_record_device_pk_device")
        ),
        sa.PrimaryKeyConstraint("device_pk", "ledger_index", name=op.f("pk_telemetry_record")),
        sa.UniqueConstraint(
            "device_pk", "boot_id", "seq", name=op.f("uq_telemetry_record_device_pk_boot_id_seq")
        ),
        sa.UniqueConstraint(
            "device_pk", "record_hash", name=op.f("uq_telemetry_record_device_pk_record_hash")
        ),
    )
    with op.batch_alter_table("telemetry_record", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_telemetry_record_device_pk_device_time"),
            ["device_pk", "device_time"],
            unique=False,
        )

    _create_warning_tables()


def _create_warning_tables() -> None:
    """Early warnings and the per-device check-run state (docs/warnings.md)."""
    pk_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "device_check_run",
        sa.Column("device_pk", pk_type, nullable=False),
        sa.Column("previous_run", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_size", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_pk"], ["device.pk"], name=op.f("fk_device_check_run_device_pk_device")
        ),
        sa.PrimaryKeyConstraint("device_pk", name=op.f("pk_device_check_run")),
    )
    op.create_table(
        "early_warning",
        sa.Column("pk", pk_type, autoincrement=True, nullable=False),
        sa.Column("device_pk", pk_type, nullable=True),
        sa.Column("check_id", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("evidence_json", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("software_version", sa.Text(), nullable=False),
        sa.Column("patient_ref", sa.Text(), nullable=True),
        sa.Column("dedupe_key", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("acknowledged_by", sa.Text(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('open', 'acknowledged')", name=op.f("ck_early_warning_state_known")
        ),
        sa.CheckConstraint(
            "severity IN ('info', 'low', 'medium', 'high', 'critical')",
            name=op.f("ck_early_warning_severity_known"),
        ),
        sa.ForeignKeyConstraint(
            ["device_pk"], ["device.pk"], name=op.f("fk_early_warning_device_pk_device")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_early_warning")),
        sa.UniqueConstraint(
            "device_pk", "dedupe_key", name=op.f("uq_early_warning_device_pk_dedupe_key")
        ),
    )
    with op.batch_alter_table("early_warning", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_early_warning_dedupe_key"),
            ["dedupe_key"],
            unique=True,
            sqlite_where=sa.text("device_pk IS NULL"),
            postgresql_where=sa.text("device_pk IS NULL"),
        )
        batch_op.create_index(
            batch_op.f("ix_early_warning_device_pk_pk"), ["device_pk", "pk"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_early_warning_state_pk"), ["state", "pk"], unique=False
        )


def _drop_warning_tables() -> None:
    with op.batch_alter_table("early_warning", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_early_warning_state_pk"))
        batch_op.drop_index(batch_op.f("ix_early_warning_device_pk_pk"))
        batch_op.drop_index(
            batch_op.f("ix_early_warning_dedupe_key"),
            sqlite_where=sa.text("device_pk IS NULL"),
            postgresql_where=sa.text("device_pk IS NULL"),
        )
    op.drop_table("early_warning")
    op.drop_table("device_check_run")


def downgrade() -> None:
    """Drop the telemetry tables."""
    _drop_warning_tables()
    with op.batch_alter_table("telemetry_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telemetry_record_device_pk_device_time"))

    op.drop_table("telemetry_record")
    with op.batch_alter_table("telemetry_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telemetry_event_kind_pk"))
        batch_op.drop_index(batch_op.f("ix_telemetry_event_device_pk_pk"))

    op.drop_table("telemetry_event")
    op.drop_table("ledger_node")
    op.drop_table("ledger_checkpoint")
    with op.batch_alter_table("device_key", schema=None) as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_device_key_device_pk"),
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        )

    op.drop_table("device_key")
    op.drop_table("device_chain")
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_software_version"))
        batch_op.drop_index(batch_op.f("ix_device_release_pk"))

    op.drop_table("device")
    op.drop_table("server_key")
    op.drop_table("device_model")
