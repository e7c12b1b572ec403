"""Looking up a product and one of its releases by slug and version, and reading the
support columns of ``revision_component``, for the repositories that work on one release
(support records, evidence packs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from medwarden.errors import NotFoundError
from medwarden.portfolio.support import ComponentSupport
from medwarden.store._portfolio_rows import parse_date
from medwarden.store.schema_portfolio import product, release

__all__ = [
    "product_and_release",
    "product_row",
    "release_row",
    "stored_support",
    "support_state",
]


def product_row(conn: Connection, slug: str) -> Mapping[Any, Any]:
    """The ``product`` row of ``slug``; :class:`NotFoundError` if there is none."""
    row = conn.execute(select(product).where(product.c.slug == slug)).mappings().first()
    if row is None:
        raise NotFoundError(f"there is no product {slug!r}")
    return row


def release_row(conn: Connection, product_pk: int, slug: str, version: str) -> Mapping[Any, Any]:
    """The ``release`` row of a product's version; :class:`NotFoundError` if there is none."""
    row = (
        conn.execute(
            select(release).where(release.c.product_pk == product_pk, release.c.version == version)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"product {slug!r} has no release {version!r}")
    return row


def product_and_release(
    conn: Connection, slug: str, version: str
) -> tuple[Mapping[Any, Any], Mapping[Any, Any]]:
    """The ``product`` and ``release`` rows of ``slug``@``version``; NotFoundError if absent."""
    prod = product_row(conn, slug)
    return prod, release_row(conn, prod["pk"], slug, version)


def stored_support(
    level: str | None, end: Any, justification: str | None
) -> ComponentSupport | None:
    """The record the support columns of a ``revision_component`` row hold, if any.

    Every write path validates records, so a level without a date or justification
    cannot be stored; should one exist, it reads as "not stated", as the end-of-support
    report reads it."""
    day = parse_date(end)
    if level is None and day is None and justification is None:
        return None
    return ComponentSupport(level, day, justification or (None if day else "not stated"))


def support_state(support: ComponentSupport | None) -> dict[str, Any] | None:
    """A record as plain JSON (audit events, evidence packs); None when there is none."""
    if support is None:
        return None
    return {
        "level": support.level,
        "end_of_support": None
        if support.end_of_support is None
        else support.end_of_support.isoformat(),
        "justification": support.justification,
    }
