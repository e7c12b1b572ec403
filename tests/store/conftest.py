"""Store fixtures: every store test runs on SQLite (a temp file) and on PostgreSQL.

PostgreSQL tests get a fresh schema each (unique per process and test, so xdist
workers never collide), reached through ``search_path`` in the URL, dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, event, text

from medwarden.store import SqlStore, open_store
from tests.conftest import postgres_url


def with_search_path(url: str, schema: str) -> str:
    """``url`` with a libpq ``options`` parameter selecting ``schema``."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def fresh_pg_schema(base: str) -> Iterator[str]:
    """Create a uniquely named schema, yield a URL using it, drop it afterwards."""
    schema = f"mw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield with_search_path(base, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL (or path) of an empty database, on each backend in turn."""
    if request.param == "sqlite":
        yield str(tmp_path / "intel.db")
        return
    base = postgres_url()
    if base is None:
        pytest.skip("MEDWARDEN_TEST_PG_URL is not set")
    with fresh_pg_schema(base) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    """An opened, migrated, empty store on each backend."""
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


@contextmanager
def count_statements(store: SqlStore) -> Iterator[list[str]]:
    """Collect the SQL statements (transaction control excluded) the store sends."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.split(None, 1)[0].upper() not in {"BEGIN", "COMMIT", "ROLLBACK"}:
            seen.append(statement)

    engine = store.database.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
