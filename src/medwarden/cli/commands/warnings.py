"""Early warnings from the command line: list them, run the checks now, acknowledge one.

``medwarden warnings list|check|ack|fleet`` (this module's :data:`app`), and the same
commands as ``medwarden device warnings|check|ack`` once :func:`mount` registered them on
the ``device`` group.  Listings print one JSON object per line; ``check`` runs the checks
synchronously (the worker normally runs them after each ingest and on a timer).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from medwarden.cli.runtime import actor_name, open_intel_store, settings_for

if TYPE_CHECKING:
    from medwarden.services.telemetry_checks import StoredWarning

__all__ = ["ack", "app", "check", "fleet", "list_warnings", "mount"]

app = typer.Typer(
    help="Early warnings of the telemetry checks: list, run the checks now, acknowledge.",
    rich_markup_mode=None,
)

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."
_ACTOR_HELP = "Who runs this, for the audit trail (default: the OS user name)."
Db = Annotated[str | None, typer.Option(help=_DB_HELP)]
Actor = Annotated[str | None, typer.Option(help=_ACTOR_HELP)]
_SEVERITIES = ("info", "low", "medium", "high", "critical")
_STATES = ("open", "acknowledged")


def _line(warning: StoredWarning) -> str:
    data: dict[str, Any] = asdict(warning)
    for key in ("at", "created_at", "acknowledged_at"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    return json.dumps(data, sort_keys=True)


def _choice(value: str | None, allowed: tuple[str, ...], option: str) -> str | None:
    if value is not None and value not in allowed:
        raise typer.BadParameter(f"{option} is one of {', '.join(allowed)}, not {value!r}")
    return value


@app.command("list")
def list_warnings(
    device: Annotated[str | None, typer.Option(help="Only this device's warnings.")] = None,
    severity: Annotated[
        str | None, typer.Option(help="Only this severity: info, low, medium, high, critical.")
    ] = None,
    state: Annotated[str | None, typer.Option(help="open or acknowledged.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Established at or after (ISO 8601, UTC if no zone).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
    db: Db = None,
) -> None:
    """List early warnings, newest first, as JSON lines."""
    from datetime import datetime

    from medwarden.core.clock import ensure_utc
    from medwarden.services.telemetry_checks import WarningQuery, WarningState
    from medwarden.telemetry.checks import Severity

    level = _choice(severity, _SEVERITIES, "--severity")
    where = _choice(state, _STATES, "--state")
    query = WarningQuery(
        device_id=device,
        severity=None if level is None else Severity(level),
        state=None if where is None else WarningState(where),
        since=None if since is None else ensure_utc(datetime.fromisoformat(since)),
    )
    with open_intel_store(settings_for(db), create=False) as store:
        found = store.warnings.list_warnings(query, limit=limit)
    for warning in found:
        typer.echo(_line(warning))


@app.command("check")
def check(
    device: Annotated[
        str | None, typer.Option(help="Only this device (default: every active device).")
    ] = None,
    db: Db = None,
) -> None:
    """Run the early-warning checks now; print the new warnings as JSON lines."""
    from medwarden.core.clock import SystemClock
    from medwarden.services.telemetry_checks import (
        default_controllers,
        run_device_checks,
        run_timer,
    )

    clock = SystemClock()
    with (
        open_intel_store(settings_for(db), create=False) as store,
        default_controllers() as controllers,
    ):
        if device is not None:
            found = run_device_checks(store.warnings, device, controllers=controllers, clock=clock)
            typer.echo(f"device {device}: {len(found)} new warnings", err=True)
        else:
            report = run_timer(store.warnings, controllers=controllers, clock=clock)
            found = report.warnings
            for failed, reason in sorted(report.failed.items()):
                typer.echo(f"device {failed}: checks failed: {reason}", err=True)
            typer.echo(f"{len(report.new)} devices checked, {len(found)} new warnings", err=True)
    for warning in found:
        typer.echo(_line(warning))
    if device is None and report.failed:
        raise typer.Exit(1)


@app.command("ack")
def ack(
    warning_id: Annotated[int, typer.Argument(min=1, help="The warning's id.")],
    note: Annotated[str, typer.Option(help="What was done about it (audited).")],
    db: Db = None,
    actor: Actor = None,
) -> None:
    """Acknowledge an open early warning with a note; print it as JSON."""
    from medwarden.core.clock import SystemClock
    from medwarden.services.telemetry_checks import acknowledge_warning

    with open_intel_store(settings_for(db), create=False) as store:
        done = acknowledge_warning(
            store.warnings, warning_id, actor=actor_name(actor), note=note, clock=SystemClock()
        )
    typer.echo(_line(done))


@app.command("fleet")
def fleet(
    days: Annotated[int, typer.Option(min=1, max=366, help="Full UTC days to compare.")] = 7,
    db: Db = None,
) -> None:
    """Compare software versions' alarm, mode-change and override rates now."""
    from medwarden.core.clock import SystemClock
    from medwarden.services.telemetry_checks import run_fleet_checks

    with open_intel_store(settings_for(db), create=False) as store:
        found = run_fleet_checks(store.warnings, clock=SystemClock(), days=days)
    typer.echo(f"{len(found)} new fleet warnings", err=True)
    for warning in found:
        typer.echo(_line(warning))


def mount(group: typer.Typer) -> None:
    """Register ``warnings``, ``check`` and ``ack`` on ``group`` (the ``device`` group)."""
    group.command("warnings")(list_warnings)
    group.command("check")(check)
    group.command("ack")(ack)
