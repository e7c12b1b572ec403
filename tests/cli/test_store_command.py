"""``medwarden store upgrade``: an older store is refused, then migrated on request."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from typer.testing import CliRunner

from medwarden.cli.app import app
from medwarden.store.db import connect
from medwarden.store.migrate import HEAD_REVISION, alembic_config


def test_store_upgrade_migrates_an_older_store(runner: CliRunner, tmp_path: Path) -> None:
    """A store left at schema 0001 is refused by scan, then opens after ``store upgrade``."""
    path = tmp_path / "old.db"
    db = connect(str(path), create=True)
    with db.engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    db.dispose()
    refused = runner.invoke(app, ["intel", "status", "--db", str(path)])
    assert refused.exit_code == 3
    assert "medwarden store upgrade" in refused.stderr
    done = runner.invoke(app, ["store", "upgrade", "--db", str(path)])
    assert done.exit_code == 0, done.stderr
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (HEAD_REVISION,)
        ]
    assert runner.invoke(app, ["intel", "status", "--db", str(path)]).exit_code == 0
