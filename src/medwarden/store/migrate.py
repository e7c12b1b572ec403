"""Schema versions: run the Alembic migrations programmatically and check the revision.

The store's schema is whatever ``migrations/`` builds; :func:`prepare_schema`
creates it in an empty database and refuses a database at another revision, so
code never runs against a schema it was not written for.  On PostgreSQL a
transaction-scoped advisory lock serialises concurrent first starts.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from medwarden.errors import StoreSchemaError
from medwarden.store.schema import METADATA

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from medwarden.store.db import Database

__all__ = [
    "HEAD_REVISION",
    "MIGRATIONS_DIR",
    "alembic_config",
    "prepare_schema",
    "upgrade_schema",
]

HEAD_REVISION = "0008"
"""The newest migration's revision; a test keeps it equal to Alembic's head.

Opening a current store compares ``alembic_version`` with this constant and never
imports Alembic (about 0.3 s of start-up), which only loads when a migration runs."""

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
"""The Alembic script directory of the store."""

_PG_LOCK_KEY = 0x6D656477  # "medw": one key for every medwarden schema migration


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the store's scripts, bound to ``connection`` if given."""
    from alembic.config import Config

    # Alembic's default ``stdout`` is bound when Alembic is first imported; pass the
    # current one so a replaced-then-closed stream (test runners) is never written to.
    config = Config(stdout=sys.stdout)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def _check_revision(conn: Connection, *, create: bool, upgrade: bool) -> bool:
    """Return whether an upgrade is needed; raise when the schema cannot be used."""
    from alembic.runtime.migration import MigrationContext

    scripts = _scripts()
    heads = set(scripts.get_heads())
    current = set(MigrationContext.configure(conn).get_current_heads())
    if current == heads:
        return False
    known = {s.revision for s in scripts.walk_revisions()}
    if current - known:
        raise StoreSchemaError(
            f"the store has schema revision {', '.join(sorted(current - known))}, "
            "which this medwarden does not know",
            hint="the store was written by a newer medwarden; upgrade medwarden",
        )
    if not current:
        ours = set(METADATA.tables) & set(inspect(conn).get_table_names())
        if ours:
            raise StoreSchemaError(
                "the database holds medwarden tables but no schema revision",
                hint="point medwarden at an empty database or a store it created",
            )
        if not create:
            raise StoreSchemaError("the database is not a medwarden store yet (it is empty)")
        return True
    if not upgrade:
        raise StoreSchemaError(
            f"the store has the older schema revision {', '.join(sorted(current))}",
            hint="back it up, then run `medwarden store upgrade`",
        )
    return True


def _is_current(db: Database) -> bool:
    """Whether the store is at :data:`HEAD_REVISION`, read with one plain query."""
    with db.read("checking the store schema") as conn:
        if "alembic_version" not in inspect(conn).get_table_names():
            return False
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return list(rows) == [HEAD_REVISION]


def _migrate(db: Database, *, create: bool, upgrade: bool) -> None:
    if _is_current(db):
        return
    from alembic import command

    with db.write("checking the store schema") as conn:
        _lock(conn)
        if _check_revision(conn, create=create, upgrade=upgrade):
            command.upgrade(alembic_config(conn), "head")


def prepare_schema(db: Database, *, create: bool) -> None:
    """Create the schema in an empty database (if ``create``) or check it is current."""
    _migrate(db, create=create, upgrade=False)


def upgrade_schema(db: Database) -> None:
    """Migrate the database to the newest schema revision."""
    _migrate(db, create=True, upgrade=True)
