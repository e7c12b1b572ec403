"""``medwarden store upgrade``: migrate an existing store to this medwarden's schema."""

from __future__ import annotations

from typing import Annotated

import typer

from medwarden.cli.runtime import settings_for

__all__ = ["app"]

app = typer.Typer(help="Maintain the local store.", rich_markup_mode=None)

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."


@app.command("upgrade")
def upgrade(db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None) -> None:
    """Run the pending schema migrations (back the database up first)."""
    from medwarden.store.db import open_store, upgrade_store
    from medwarden.store.migrate import HEAD_REVISION

    settings = settings_for(db)
    upgrade_store(settings.db)
    open_store(settings.db, create=False).close()  # proves the store now opens
    typer.echo(f"store at schema revision {HEAD_REVISION}")
