"""``medwarden monitor status|tick``: per-product monitoring schedule, runs and alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from medwarden.cli.exit_codes import ExitCode
from medwarden.cli.runtime import open_intel_store, settings_for

if TYPE_CHECKING:
    from datetime import datetime

    from medwarden.services.monitoring import LivenessReport
    from medwarden.store.intel_repository import SqlStore

__all__ = ["app"]

app = typer.Typer(
    help="Monitoring: per-product schedule, recorded runs, liveness alerts.",
    rich_markup_mode=None,
)

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."


def _when(value: datetime | None) -> str:
    return "never" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


@app.command("status")
def status(
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    runs: Annotated[int, typer.Option(min=0, help="How many recent runs to list.")] = 10,
) -> None:
    """Show each product's schedule and liveness, open alerts, recent runs and queues."""
    from medwarden.core.clock import SystemClock

    with open_intel_store(settings_for(db), create=False) as store:
        _print_status(store, SystemClock().now(), runs)


def _print_status(store: SqlStore, now: datetime, limit: int) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from medwarden.services.monitoring import LIVENESS_KIND, liveness_key

    console = Console(highlight=False)
    schedules = store.monitoring.schedules()
    alerts = store.monitoring.open_alerts()
    silent = {a.dedupe_key for a in alerts if a.kind == LIVENESS_KIND}
    table = Table(title="Monitoring schedule")
    for column in ("Product", "Interval", "Last success", "Due", "Liveness"):
        table.add_column(column)
    for s in schedules:
        hours = s.interval.total_seconds() / 3600
        cells = (
            s.slug,
            f"{hours:g} h",
            _when(s.last_success_at),
            "yes" if s.is_due(now) else "no",
            "ALERT" if liveness_key(s.slug) in silent else "ok",
        )
        table.add_row(*(Text(c) for c in cells))
    console.print(table if schedules else "no products to monitor")
    if alerts:
        alert_table = Table(title="Open alerts")
        for column in ("Kind", "Product", "Raised", "Key"):
            alert_table.add_column(column)
        for a in alerts:
            alert_cells = (a.kind, a.product or "(all)", _when(a.raised_at), a.dedupe_key)
            alert_table.add_row(*(Text(c) for c in alert_cells))
        console.print(alert_table)
    recent = store.monitoring.runs(limit=limit) if limit else []
    if recent:
        run_table = Table(title="Recent monitoring runs")
        for column in ("Started", "Product", "Trigger", "Outcome", "Counts / error"):
            run_table.add_column(column)
        for r in recent:
            result = r.error or ", ".join(f"{k} {v}" for k, v in sorted((r.counts or {}).items()))
            run_cells = (
                _when(r.started_at),
                ",".join(r.products) if r.products else "(all)",
                r.trigger.value,
                r.outcome.value,
                result,
            )
            run_table.add_row(*(Text(c) for c in run_cells))
        console.print(run_table)
    jobs = store.jobs.counts()
    deliveries = store.notifications.delivery_counts()
    console.print(
        "jobs: " + ", ".join(f"{n} {state.value}" for state, n in jobs.items()),
        soft_wrap=True,
    )
    console.print(
        "deliveries: " + ", ".join(f"{n} {state.value}" for state, n in deliveries.items()),
        soft_wrap=True,
    )


@app.command("tick")
def tick(
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    product: Annotated[
        list[str] | None,
        typer.Option(help="Run these products now (manual), due or not (repeatable)."),
    ] = None,
) -> None:
    """Run monitoring for the due products (or --product ones), then the liveness check."""
    from functools import partial

    from medwarden.core.clock import SystemClock
    from medwarden.jobs.handlers import portfolio_surveillance
    from medwarden.services.monitoring import (
        RunTrigger,
        check_liveness,
        monitoring_tick,
        run_monitoring,
    )

    clock = SystemClock()
    with open_intel_store(settings_for(db), create=False) as store:
        surveil = portfolio_surveillance(store, clock)
        if product:
            evaluate = partial(surveil, tuple(product))
            run_monitoring(store, product, evaluate, clock, RunTrigger.MANUAL)
            typer.echo(f"monitored {', '.join(product)}")
            _print_liveness(check_liveness(store, clock.now()))
            return
        report = monitoring_tick(store, clock, surveil)
    typer.echo(f"due: {', '.join(report.due) or 'none'}")
    if report.error:
        typer.echo(f"the run failed: {report.error}", err=True)
    _print_liveness(report.liveness)
    if report.error:
        raise typer.Exit(int(ExitCode.INTERNAL))


def _print_liveness(report: LivenessReport) -> None:
    typer.echo(
        f"liveness: {report.checked} products checked; raised: "
        f"{', '.join(report.raised) or 'none'}; cleared: {', '.join(report.cleared) or 'none'}; "
        f"still open: {', '.join(report.still_open) or 'none'}"
    )
