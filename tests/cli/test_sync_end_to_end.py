"""``medwarden intel sync`` end to end: real HTTP against a loopback replay server.

The server replays recorded feed responses (``tests/fixtures/recorded``); the CLI is
pointed at it with the ``--*-url`` options an isolated network would use for a mirror.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from medwarden.cli.app import app
from medwarden.store.db import open_store
from medwarden.testing.replay import ReplayServer

RECORDED = Path(__file__).parents[1] / "fixtures" / "recorded" / "manifest.json"


def test_kev_epss_and_osv_sync_into_a_new_store(runner: CliRunner, tmp_path: Path) -> None:
    """KEV, EPSS and an OSV ecosystem sync through HTTP into the store, cursors recorded."""
    db = str(tmp_path / "synced.db")
    with ReplayServer.from_manifest(RECORDED) as server:
        args = ["intel", "sync", "--db", db, "--source", "kev", "--source", "epss"]
        args += ["--source", "osv", "--osv-ecosystem", "Go"]
        args += [
            "--kev-url",
            f"{server.url}/sites/default/files/feeds/known_exploited_vulnerabilities.json",
        ]
        args += ["--epss-url", f"{server.url}/epss_scores-current.csv.gz", "--osv-url", server.url]
        result = runner.invoke(app, args)
        requested = {request.path for request in server.requests}
    assert result.exit_code == 0, result.stderr
    assert "/Go/all.zip" in requested
    with open_store(db, create=False) as store:
        status = {row.source: row for row in store.status()}
        assert status["kev"].records == 1404
        assert status["epss"].records > 0
        assert status["osv"].records == 4291
        assert status["osv:Go"].cursor
        found = store.advisories_by_package([("Go", "github.com/opencontainers/runc")])
    assert any(a.id == "GO-2024-2491" for a in found[("Go", "github.com/opencontainers/runc")])


def test_unreachable_feed_is_an_input_error(runner: CliRunner, tmp_path: Path) -> None:
    """A feed that answers 404 ends the sync with exit 2 naming the URL, nothing half-stored."""
    db = str(tmp_path / "synced.db")
    with ReplayServer() as server:
        url = f"{server.url}/missing.json"
        result = runner.invoke(
            app, ["intel", "sync", "--db", db, "--source", "kev", "--kev-url", url]
        )
    assert result.exit_code == 2
    assert "missing.json" in result.stderr
