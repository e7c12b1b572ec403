"""Authentication: users, API tokens, per-product permissions.

No secret is ever stored: ``app_user.password_hash`` holds an Argon2id hash and
``api_token.secret_sha256`` the SHA-256 of a token's random secret.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _pk() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``app_user``, ``user_product`` and ``api_token``."""
    op.create_table(
        "app_user",
        sa.Column("pk", _pk(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("roles_json", sa.Text(), nullable=False),
        sa.Column("all_products", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_app_user")),
        sa.UniqueConstraint("name", name=op.f("uq_app_user_name")),
    )
    op.create_table(
        "user_product",
        sa.Column("user_pk", _pk(), nullable=False),
        sa.Column("product_pk", _pk(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_pk"], ["product.pk"], name=op.f("fk_user_product_product_pk_product")
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["app_user.pk"], name=op.f("fk_user_product_user_pk_app_user")
        ),
        sa.PrimaryKeyConstraint("user_pk", "product_pk", name=op.f("pk_user_product")),
    )
    with op.batch_alter_table("user_product", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_user_product_product_pk"), ["product_pk"], unique=False
        )

    op.create_table(
        "api_token",
        sa.Column("pk", _pk(), autoincrement=True, nullable=False),
        sa.Column("token_id", sa.Text(), nullable=False),
        sa.Column("secret_sha256", sa.Text(), nullable=False),
        sa.Column("user_pk", _pk(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("roles_json", sa.Text(), nullable=False),
        sa.Column("products_json", sa.Text(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.Column("last_used_at", _ts(), nullable=True),
        sa.CheckConstraint(
            "expires_at > created_at", name=op.f("ck_api_token_expires_after_creation")
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["app_user.pk"], name=op.f("fk_api_token_user_pk_app_user")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_id", name=op.f("uq_api_token_token_id")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_token_user_pk_created_at"), ["user_pk", "created_at"], unique=False
        )


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_pk_created_at"))

    op.drop_table("api_token")
    with op.batch_alter_table("user_product", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_product_product_pk"))

    op.drop_table("user_product")
    op.drop_table("app_user")
