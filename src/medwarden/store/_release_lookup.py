"""Looking up a product and one of its releases by slug and version, and reading the
support columns of ``revision_component``, for the repositories that work on one release
(support records, evidence packs)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from medwarden.errors import NotFoundError
from medwarden.portfolio.support import ComponentSupport
from medwarden.store.schema_portfolio import product, release

__all__ = ["product_and_release", "stored_support", "support_state"]


def product_and_release(
    conn: Connection, slug: str, version: str
) -> tuple[Mapping[Any, Any], Mapping[Any, Any]]:
    """The ``product`` and ``release`` rows of ``slug``@``version``; NotFoundError if absent."""
    prod = conn.execute(select(product).where(product.c.slug == slug)).mappings().first()
    if prod is None:
        raise NotFoundError(f"there is no product {slug!r}")
    rel = (
        conn.execute(
            select(release).where(release.c.product_pk == prod["pk"], release.c.version == version)
        )
        .mappings()
        .first()
    )
    if rel is None:
        raise NotFoundError(f"product {slug!r} has no release {version!r}")
    return prod, rel


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def stored_support(
    level: str | None, end: Any, justification: str | None
) -> ComponentSupport | None:
    """The record the support columns of a ``revision_component`` row hold, if any.

    Every write path validates records, so a level without a date or justification
    cannot be stored; should one exist, it reads as "not stated", as the end-of-support
    report reads it."""
    day = _day(end)
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
