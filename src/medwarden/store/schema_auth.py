"""The tables of authentication: users, API tokens, per-product permissions (migration 0005).

Secrets are never stored: ``app_user.password_hash`` is an encoded Argon2id hash and
``api_token.secret_sha256`` the SHA-256 of the token's random secret (see
:mod:`medwarden.auth.tokens` for why that suffices).  Roles are JSON arrays of role
names.  A user's product scope is ``all_products`` or the ``user_product`` rows; an
explicit flag rather than "no rows means everything", so that removing a user's last
product narrows their access instead of widening it.  A token's scope is a JSON array
of product slugs, or NULL for its owner's whole scope.
"""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, Table, Text

from medwarden.store._metadata import METADATA, PK, UtcDateTime

__all__ = ["api_token", "app_user", "user_product"]

app_user = Table(
    "app_user",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("password_hash", Text),
    Column("roles_json", Text, nullable=False),
    Column("all_products", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)
"""A person or service account; ``password_hash`` is NULL for a token-only account."""

user_product = Table(
    "user_product",
    METADATA,
    Column("user_pk", PK, ForeignKey("app_user.pk"), primary_key=True),
    Column("product_pk", PK, ForeignKey("product.pk"), primary_key=True),
    Index(None, "product_pk"),
)
"""The products a user without ``all_products`` may act on."""

api_token = Table(
    "api_token",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("token_id", Text, nullable=False, unique=True),
    Column("secret_sha256", Text, nullable=False),
    Column("user_pk", PK, ForeignKey("app_user.pk"), nullable=False),
    Column("name", Text, nullable=False),
    Column("roles_json", Text, nullable=False),
    Column("products_json", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Column("last_used_at", UtcDateTime),
    Index(None, "user_pk", "created_at"),
    CheckConstraint("expires_at > created_at", name="expires_after_creation"),
)
"""An API token: public id, digest of the secret, owner, roles, scope, expiry, revocation."""
