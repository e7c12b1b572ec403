"""Fixtures for authentication tests: stores on each backend, cheap hashing, products."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Boolean, Date, DateTime, Integer, insert
from sqlalchemy.types import TypeEngine

from medwarden.auth.passwords import PasswordHashing
from medwarden.core.clock import FixedClock
from medwarden.store import SqlStore
from medwarden.store._metadata import UtcDateTime
from medwarden.store.schema_portfolio import product
from tests.store.conftest import store, store_url  # noqa: F401 - every backend

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
"""The time every auth test starts at."""

FAST_HASHING = PasswordHashing(time_cost=1, memory_cost=1024, parallelism=1)
"""Argon2id with minimal cost: the same code paths, a thousand times faster."""


@pytest.fixture
def clock() -> FixedClock:
    """A clock standing at :data:`T0` (move it with ``set``)."""
    return FixedClock(T0)


def _filler(kind: TypeEngine[Any]) -> object:
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, Integer):
        return 86_400
    if isinstance(kind, Date):
        return T0.date()
    if isinstance(kind, UtcDateTime | DateTime):
        return T0
    return "[]"


def add_product(db: SqlStore, slug: str) -> None:
    """Insert a bare product row (scopes need only its slug; other columns get fillers)."""
    values: dict[str, Any] = {
        column.name: _filler(column.type)
        for column in product.columns
        if not column.nullable and column.default is None and not column.primary_key
    }
    values.update(slug=slug, name=slug.title())
    with db.database.write("adding a test product") as conn:
        conn.execute(insert(product).values(values))
