"""Provenance of KEV entries and EPSS scores: where and when each was fetched, and the digest.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("kev", "epss")


def upgrade() -> None:
    """Add ``fetched_at``, ``digest`` and ``origin`` to the KEV and EPSS tables."""
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True))
            batch.add_column(sa.Column("digest", sa.Text(), nullable=True))
            batch.add_column(sa.Column("origin", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the provenance columns again."""
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("origin")
            batch.drop_column("digest")
            batch.drop_column("fetched_at")
