"""Alembic environment of the medwarden store.

Where the database comes from, in order:

1. a connection handed over by code (``config.attributes["connection"]``), which is
   how :func:`medwarden.store.open_store` and the tests run migrations;
2. ``alembic -c src/medwarden/store/alembic.ini -x db=PATH_OR_URL <command>``;
3. ``sqlalchemy.url`` in the ini file (empty by default);
4. otherwise a throw-away in-memory SQLite database, first migrated to head, so
   that ``alembic check`` and ``alembic revision --autogenerate`` work out of the box
   as a self-contained check that the migrations build exactly ``schema.METADATA``.
"""

from __future__ import annotations

from alembic import command, context
from sqlalchemy import Connection

from medwarden.store.db import connect
from medwarden.store.migrate import alembic_config
from medwarden.store.schema import METADATA

_config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _upgrade_nested(connection: Connection) -> None:
    """Migrate ``connection`` to head from inside this environment (case 4).

    A nested Alembic command replaces and then deletes the ``alembic.context``
    proxy; the outer environment is installed again afterwards.
    """
    outer = getattr(context, "_proxy")  # noqa: B009 - private, no public accessor
    command.upgrade(alembic_config(connection), "head")
    connection.commit()
    outer._install_proxy()


def _location() -> str | None:
    named = context.get_x_argument(as_dictionary=True).get("db")
    return named or _config.get_main_option("sqlalchemy.url") or None


def _main() -> None:
    given = _config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    location = _location()
    db = connect(location or ":memory:")
    try:
        with db.engine.connect() as connection:
            if location is None:
                _upgrade_nested(connection)
            _run(connection)
            connection.commit()
    finally:
        db.dispose()


if context.is_offline_mode():
    raise SystemExit("medwarden store migrations run online only (give -x db=PATH_OR_URL)")
_main()
