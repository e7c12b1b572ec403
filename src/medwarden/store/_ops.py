"""Small helpers shared by the operations repositories (outbox, jobs, monitoring)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from medwarden.core.clock import ensure_utc
from medwarden.core.digests import canonical_json
from medwarden.errors import NotFoundError
from medwarden.store.schema_portfolio import product

__all__ = [
    "as_utc",
    "clip",
    "dialect_insert",
    "from_json",
    "product_pks",
    "to_json",
]

ERROR_LIMIT = 2_000
"""Stored error texts are clipped to this many characters."""


def dialect_insert(conn: Connection, table: Table) -> Any:
    """An ``INSERT`` with ``ON CONFLICT`` support for the connection's dialect."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def to_json(value: Mapping[str, Any] | list[Any]) -> str:
    """Canonical JSON text (sorted keys, compact) of a plain JSON value."""
    return canonical_json(value).decode()


def from_json(text: str | None) -> Any:
    """The JSON value stored in ``text`` (None for NULL)."""
    return None if text is None else orjson.loads(text)


def as_utc(value: Any) -> datetime | None:
    """An aware UTC datetime from a column or aggregate (SQLite may return text)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return ensure_utc(value)
    return ensure_utc(datetime.fromisoformat(str(value)))


def clip(text: str, limit: int = ERROR_LIMIT) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks a cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def product_pks(conn: Connection, slugs: set[str]) -> dict[str, int]:
    """The primary key of each product slug; unknown slugs raise :class:`NotFoundError`."""
    if not slugs:
        return {}
    found = {
        slug: int(pk)
        for slug, pk in conn.execute(
            select(product.c.slug, product.c.pk).where(product.c.slug.in_(sorted(slugs)))
        )
    }
    missing = sorted(slugs - found.keys())
    if missing:
        raise NotFoundError(
            f"no product {', '.join(missing)}",
            hint="check the product slug (products are identified by their slug)",
        )
    return found
