"""Opening the store: database URLs, engines, SQLite pragmas and driver-error wrapping.

The store runs on SQLite (the embedded default, a file in the user data directory)
and on PostgreSQL (through psycopg 3) with the same code.  :func:`open_store` accepts
a file path or a SQLAlchemy URL, tunes SQLite, brings the schema to the current
Alembic head (or refuses a store of another schema version) and returns the
repository.  Every driver error leaves this package as a :class:`StoreError` whose
message names the database without its password.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from medwarden.errors import StoreError, StoreSchemaError
from medwarden.store.intel_repository import SqlStore
from medwarden.store.migrate import prepare_schema, upgrade_schema

__all__ = [
    "Database",
    "SqlStore",
    "default_db_path",
    "open_store",
    "resolve_url",
    "upgrade_store",
]

SQLITE_PRAGMAS = (
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "foreign_keys=ON",
    "busy_timeout=30000",
    "cache_size=-65536",
    "temp_store=MEMORY",
    "wal_autocheckpoint=16384",
)
"""Pragmas set on every SQLite connection (WAL: readers never block the writer).

``wal_autocheckpoint`` is raised from 1,000 to 16,384 pages (64 MiB of WAL) so that
bulk loads checkpoint every few batches instead of at every commit (measured: 44 to
32 microseconds per stored NVD record).   Memory-mapped I/O was
tried and dropped: it made cold lookups 4x faster, but the kernel maps 64 KiB around
each faulting page, so a scan's resident set grew from 0.3 to 0.7 GB."""

_WRITE = "medwarden_write"
_CREDENTIALS = re.compile(r"(//[^:/@\s]*:)[^@\s]*@")


def default_db_path() -> Path:
    """Return the default store location: ``<user data dir>/medwarden/medwarden.db``."""
    return Path(platformdirs.user_data_dir("medwarden", appauthor=False)) / "medwarden.db"


def redact(text: str) -> str:
    """Replace any ``user:password@`` credentials inside ``text`` by ``user:***@``."""
    return _CREDENTIALS.sub(r"\1***@", text)


def resolve_url(url_or_path: str) -> URL:
    """Turn a file path or SQLAlchemy URL into the URL the store connects with.

    A string without ``://`` is a SQLite file path (``:memory:`` is an in-memory
    database).  ``postgresql://`` URLs use psycopg 3.  Other backends are refused.
    """
    text = url_or_path.strip()
    if not text:
        raise StoreError("no database location was given", hint="pass a file path or a URL")
    if "://" not in text:
        database = text if text == ":memory:" else str(Path(text).expanduser())
        return URL.create("sqlite+pysqlite", database=database)
    try:
        url = make_url(text)
    except ArgumentError:
        raise StoreError(
            f"not a database URL: {redact(text)}",
            hint="use a file path, sqlite:///PATH or postgresql://USER@HOST/DB",
        ) from None  # the parser's message would repeat the URL, password included
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+pysqlite")
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    raise StoreError(
        f"unsupported database {backend!r} in {safe_url(url)}",
        hint="medwarden stores intelligence in SQLite or PostgreSQL",
    )


def safe_url(url: URL) -> str:
    """Render ``url`` for messages and logs, password hidden."""
    return url.render_as_string(hide_password=True)


def _reason(exc: SQLAlchemyError) -> str:
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    lines = str(cause).strip().splitlines() or [type(cause).__name__]
    return redact(lines[0])


class Database:
    """An engine plus the conventions of this store: write transactions and error wrapping."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.url = safe_url(engine.url)
        self._writer = engine.execution_options(**{_WRITE: True})

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Re-raise driver errors inside the block as :class:`StoreError`."""
        try:
            yield
        except SQLAlchemyError as exc:
            raise StoreError(
                f"{action} failed on {self.url}: {_reason(exc)}",
                hint="check that the database is reachable and is a medwarden store",
            ) from exc

    @contextmanager
    def read(self, action: str) -> Iterator[Connection]:
        """A connection for reads (one snapshot on SQLite), errors wrapped."""
        with self.errors(action), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self, action: str) -> Iterator[Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
        with self.errors(action), self._writer.begin() as conn:
            yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy's begin hook emits BEGIN itself
    cursor = dbapi_conn.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _on_pg_connect(dbapi_conn: Any, _record: Any) -> None:
    # JIT compilation costs ~70 ms per query whose row estimate is large (recursive
    # CTEs, fresh tables without statistics) and never pays off for these lookups.
    with dbapi_conn.cursor() as cursor:
        cursor.execute("SET jit = off")
    dbapi_conn.commit()


def _sqlite_engine(url: URL, *, create: bool) -> Engine:
    memory = url.database in (None, "", ":memory:")
    if not memory:
        path = Path(str(url.database))
        if not create and not path.exists():
            raise StoreSchemaError(
                f"there is no medwarden store at {path}", hint="load intelligence to create it"
            )
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"poolclass": StaticPool} if memory else {}
    engine = create_engine(url, connect_args={"check_same_thread": False}, **options)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def create_store_engine(url: URL, *, create: bool = True) -> Engine:
    """Create the engine for ``url`` with this store's connection settings."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, create=create)
    args: dict[str, Any] = {"application_name": "medwarden"}
    if "connect_timeout" not in url.query:
        args["connect_timeout"] = 10
    engine = create_engine(url, connect_args=args, pool_pre_ping=True)
    event.listen(engine, "connect", _on_pg_connect)
    return engine


def connect(url_or_path: str, *, create: bool = True) -> Database:
    """Open the database named by ``url_or_path`` (no schema check); errors wrapped."""
    url = resolve_url(url_or_path)
    try:
        engine = create_store_engine(url, create=create)
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(f"cannot set up a connection to {safe_url(url)}: {exc}") from exc
    except OSError as exc:
        raise StoreError(f"cannot create the store at {safe_url(url)}: {exc}") from exc
    return Database(engine)


def open_store(url_or_path: str, *, create: bool = True) -> SqlStore:
    """Open the intelligence store at a file path or SQLAlchemy URL.

    With ``create`` an empty database gets the current schema (Alembic ``upgrade
    head``); without it an empty database is refused.  A store whose schema is older
    or newer than this medwarden raises :class:`~medwarden.errors.StoreSchemaError`
    (see :func:`upgrade_store`).  Close the returned store when done.
    """
    db = connect(url_or_path, create=create)
    try:
        prepare_schema(db, create=create)
    except BaseException:
        db.dispose()
        raise
    return SqlStore(db)


def upgrade_store(url_or_path: str) -> None:
    """Migrate the store at ``url_or_path`` to the schema of this medwarden."""
    db = connect(url_or_path, create=True)
    try:
        upgrade_schema(db)
    finally:
        db.dispose()
