"""Initial intelligence mirror: advisories, their index rows, aliases, KEV, EPSS, sync state.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _pk() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _advisory_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["advisory_pk"],
        ["advisory.pk"],
        name=op.f(f"fk_{table}_advisory_pk_advisory"),
        ondelete="CASCADE",
    )


def _create_advisory() -> None:
    op.create_table(
        "advisory",
        sa.Column("pk", _pk(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("modified", _ts(), nullable=False),
        sa.Column("published", _ts(), nullable=True),
        sa.Column("withdrawn", _ts(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("fetched_at", _ts(), nullable=True),
        sa.Column("digest", sa.Text(), nullable=True),
        sa.Column("origin", sa.Text(), nullable=True),
        sa.Column("license", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_advisory")),
        sa.UniqueConstraint("record_id", "source", name=op.f("uq_advisory_record_id_source")),
    )


def _create_index_tables() -> None:
    op.create_table(
        "advisory_package",
        sa.Column("advisory_pk", _pk(), nullable=False),
        sa.Column("ecosystem", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("family", sa.Text(), nullable=False),
        _advisory_fk("advisory_package"),
        sa.PrimaryKeyConstraint(
            "advisory_pk", "ecosystem", "name", name=op.f("pk_advisory_package")
        ),
    )
    op.create_index(op.f("ix_advisory_package_family_name"), "advisory_package", ["family", "name"])
    op.create_table(
        "advisory_cpe",
        sa.Column("advisory_pk", _pk(), nullable=False),
        sa.Column("vendor", sa.Text(), nullable=False),
        sa.Column("product", sa.Text(), nullable=False),
        sa.Column("platform", sa.Boolean(), nullable=False),
        _advisory_fk("advisory_cpe"),
        sa.PrimaryKeyConstraint(
            "advisory_pk", "vendor", "product", "platform", name=op.f("pk_advisory_cpe")
        ),
    )
    op.create_index(op.f("ix_advisory_cpe_vendor_product"), "advisory_cpe", ["vendor", "product"])
    op.create_table(
        "alias",
        sa.Column("advisory_pk", _pk(), nullable=False),
        sa.Column("a", sa.Text(), nullable=False),
        sa.Column("b", sa.Text(), nullable=False),
        _advisory_fk("alias"),
        sa.PrimaryKeyConstraint("advisory_pk", "a", "b", name=op.f("pk_alias")),
    )
    op.create_index(op.f("ix_alias_a"), "alias", ["a"])


def _create_side_tables() -> None:
    op.create_table(
        "kev",
        sa.Column("cve_id", sa.Text(), nullable=False),
        sa.Column("vendor", sa.Text(), nullable=False),
        sa.Column("product", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("date_added", _ts(), nullable=False),
        sa.Column("due_date", _ts(), nullable=True),
        sa.Column("known_ransomware", sa.Text(), nullable=True),
        sa.Column("required_action", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("cve_id", name=op.f("pk_kev")),
    )
    op.create_table(
        "epss",
        sa.Column("cve_id", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("percentile", sa.Float(), nullable=False),
        sa.Column("score_date", _ts(), nullable=True),
        sa.Column("model_version", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("cve_id", name=op.f("pk_epss")),
    )
    op.create_table(
        "source_state",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("last_loaded_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_source_state")),
    )


def upgrade() -> None:
    """Create every table of the first schema."""
    _create_advisory()
    _create_index_tables()
    _create_side_tables()


def downgrade() -> None:
    """Drop every table of the first schema."""
    for table in ("alias", "advisory_cpe", "advisory_package", "source_state", "kev", "epss"):
        op.drop_table(table)
    op.drop_table("advisory")
