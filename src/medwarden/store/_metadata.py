"""The shared pieces of every table definition: the metadata, UTC timestamps, key type."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, MetaData
from sqlalchemy.types import TypeDecorator

from medwarden.core.clock import ensure_utc

__all__ = ["METADATA", "PK", "UtcDateTime"]

METADATA = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)
"""All tables of the store; Alembic compares migrations against it."""


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone on its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store every datetime in UTC."""
        return None if value is None else ensure_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime (SQLite returns naive values written in UTC)."""
        return None if value is None else ensure_utc(value)


# BIGINT on PostgreSQL, INTEGER on SQLite (only INTEGER PRIMARY KEY is the rowid alias).
PK = BigInteger().with_variant(Integer(), "sqlite")
