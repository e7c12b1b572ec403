"""``medwarden warnings list|check|ack|fleet`` (and the same under ``device``) end to end."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from medwarden.cli.app import MedwardenGroup
from medwarden.cli.commands import warnings
from medwarden.store import open_store
from tests.store.warning_chain import Chain, decided, register


def cli() -> typer.Typer:
    """A root like ``medwarden``'s, with the warnings group and a device group mounting it."""
    root = typer.Typer(cls=MedwardenGroup, rich_markup_mode=None)
    root.add_typer(warnings.app, name="warnings")
    device = typer.Typer(rich_markup_mode=None)
    warnings.mount(device)
    root.add_typer(device, name="device")
    return root


@pytest.fixture
def db(store_url: str) -> str:
    """A store holding pump-1's loop with a tampered input (and pump-2, silent)."""
    with open_store(store_url) as store:
        chain = Chain(register(store))
        chain.cycle(0, 150, "c0")
        chain.sensor(5, 150)
        fed = chain.decision(5.5, 250)
        chain.temp(6, fed, decided(250)["rate_u_h"], "c1")
        chain.confirm(6.5, "c1", decided(250)["rate_u_h"])
        chain.send(store, 7)
        other = Chain(register(store, "pump-2"), device_id="pump-2")
        other.sensor(0, 120)
        other.send(store, 1)
    return store_url


def lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_check_runs_now_and_stores_each_warning_once(runner: CliRunner, db: str) -> None:
    result = runner.invoke(cli(), ["device", "check", "--device", "pump-1", "--db", db])
    assert result.exit_code == 0, result.stderr
    found = lines(result.stdout)
    codes = {w["code"] for w in found}
    assert "decision_input_mismatch" in codes
    assert "signal_loss" in codes  # the records are months older than the real clock
    assert all(w["device_id"] == "pump-1" for w in found)
    assert "new warnings" in result.stderr
    again = runner.invoke(cli(), ["device", "check", "--device", "pump-1", "--db", db])
    assert (again.exit_code, again.stdout) == (0, "")


def test_check_without_a_device_runs_every_active_device(runner: CliRunner, db: str) -> None:
    result = runner.invoke(cli(), ["warnings", "check", "--db", db])
    assert result.exit_code == 0, result.stderr
    devices = {w["device_id"] for w in lines(result.stdout)}
    assert devices == {"pump-1", "pump-2"}
    assert "2 devices checked" in result.stderr


def test_list_filters(runner: CliRunner, db: str) -> None:
    assert runner.invoke(cli(), ["warnings", "check", "--db", db]).exit_code == 0
    every = lines(runner.invoke(cli(), ["device", "warnings", "--db", db]).stdout)
    assert [w["id"] for w in every] == sorted((w["id"] for w in every), reverse=True)
    query = ["--device", "pump-2", "--severity", "high", "--state", "open"]
    mine = runner.invoke(cli(), ["warnings", "list", *query, "--db", db])
    assert [w["code"] for w in lines(mine.stdout)] == ["signal_loss"]
    bad = runner.invoke(cli(), ["warnings", "list", "--severity", "dire", "--db", db])
    assert bad.exit_code == 2
    assert "--severity is one of" in bad.stderr


def test_ack_records_the_note_once(runner: CliRunner, db: str) -> None:
    assert runner.invoke(cli(), ["warnings", "check", "--db", db]).exit_code == 0
    first = lines(runner.invoke(cli(), ["warnings", "list", "--db", db]).stdout)[0]
    args = ["device", "ack", str(first["id"]), "--note", "sensor replaced", "--actor", "carol"]
    result = runner.invoke(cli(), [*args, "--db", db])
    assert result.exit_code == 0, result.stderr
    done = json.loads(result.stdout)
    assert (done["state"], done["acknowledged_by"], done["note"]) == (
        "acknowledged",
        "carol",
        "sensor replaced",
    )
    again = runner.invoke(cli(), [*args, "--db", db])
    assert again.exit_code != 0
    assert "MW004" in again.stderr
    with open_store(db) as store:
        assert list(store.audit.events())[-1].action == "telemetry.warning_acknowledge"


def test_fleet_reports_what_it_stored(runner: CliRunner, db: str) -> None:
    result = runner.invoke(cli(), ["warnings", "fleet", "--days", "3", "--db", db])
    assert result.exit_code == 0, result.stderr
    assert "0 new fleet warnings" in result.stderr
