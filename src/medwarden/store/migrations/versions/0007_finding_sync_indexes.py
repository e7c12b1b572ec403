"""Indexes for finding sync and "new since" lists.

``revision_component (component_pk, revision_pk)`` replaces the (component_pk) index,
which it covers.  ``sync_findings`` asks, for every
finding of a re-evaluated identity, whether its release's current revision still holds the
identity; without this index each probe walks the revision's rows (benchmarks: a
1,000-advisory worst-case re-evaluation 18 s -> 4 s on SQLite).

``finding (discovered_at, pk)`` lets a "discovered since" list start at the first
matching finding instead of walking every older one (33 -> 2 ms on 218,000 findings).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Widen the revision_component index; index findings by discovery time."""
    with op.batch_alter_table("revision_component", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_revision_component_component_pk_revision_pk"),
            ["component_pk", "revision_pk"],
            unique=False,
        )
        batch_op.drop_index(batch_op.f("ix_revision_component_component_pk"))
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_finding_discovered_at_pk"), ["discovered_at", "pk"], unique=False
        )


def downgrade() -> None:
    """Restore the single-column index; drop the discovery-time index."""
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finding_discovered_at_pk"))
    with op.batch_alter_table("revision_component", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_revision_component_component_pk"), ["component_pk"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_revision_component_component_pk_revision_pk"))
