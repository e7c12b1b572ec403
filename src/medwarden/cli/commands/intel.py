"""``medwarden intel load|status|sync``: fill and inspect the local intelligence mirror."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from medwarden.cli.runtime import actor_name, err_console, open_intel_store, settings_for

if TYPE_CHECKING:
    from medwarden.services.intel_load import LoadReport
    from medwarden.services.ports import SourceStatus

__all__ = ["STALE_AFTER", "SyncSource", "app", "print_counts"]

STALE_AFTER = timedelta(days=7)
"""A source last loaded longer ago than this gets a warning in ``intel status``."""

app = typer.Typer(
    help="Load, sync and inspect the local vulnerability-intelligence mirror.",
    rich_markup_mode=None,
)

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."
_REEVALUATE_HELP = "Re-evaluate the portfolio against what changed (default: yes)."
_ACTOR_HELP = "Who runs this, for the audit trail (default: the OS user name)."
_URL_HELP = "URL of the {} (default: the public feed; set it for an internal mirror)."


class SyncSource(StrEnum):
    """Feeds ``intel sync`` can fetch."""

    NVD = "nvd"
    OSV = "osv"
    KEV = "kev"
    EPSS = "epss"


@app.command("load", no_args_is_help=True)
def load(
    paths: Annotated[list[Path], typer.Argument(help="Files, directories or OSV zips.")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=0, help="Parser processes (0: none; default: by input size)."),
    ] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
    reevaluate: Annotated[bool, typer.Option(help=_REEVALUATE_HELP)] = True,
) -> None:
    """Load NVD, CVE 5, OSV, CSAF 2.0, KEV and EPSS files into the store (audited)."""
    from medwarden.core.clock import SystemClock
    from medwarden.services.intel_load import load_paths

    settings = settings_for(db)
    who = actor_name(actor)
    with open_intel_store(settings, create=True) as store:
        run = partial(
            load_paths,
            store,
            paths,
            clock=SystemClock(),
            workers=workers,
            audit=store.audit,
            actor=who,
        )
        if settings.progress:
            from rich.progress import Progress, SpinnerColumn, TextColumn

            columns = (SpinnerColumn(), TextColumn("{task.description}"))
            with Progress(*columns, console=err_console(), transient=True) as bar:
                task = bar.add_task("loading", total=None)
                report = run(
                    on_progress=lambda p: bar.update(
                        task, description=f"{p.records:,} records from {p.path}"
                    ),
                )
        else:
            report = run()
        print_counts(report, title="Loaded")
        if reevaluate:
            from medwarden.cli.commands.portfolio import reevaluate_after

            reevaluate_after(store, who)


def print_counts(report: LoadReport, *, title: str) -> None:
    """Print inserted/updated/unchanged counts per source, and the rate, to stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("Source", "Inserted", "Updated", "Unchanged"):
        table.add_column(column, justify="left" if column == "Source" else "right")
    for source, counts in report.counts.items():
        table.add_row(
            source, f"{counts.inserted:,}", f"{counts.updated:,}", f"{counts.unchanged:,}"
        )
    console = Console(highlight=False)
    console.print(table)
    console.print(
        f"{report.records:,} records in {report.seconds:.1f} s ({report.rate:,.0f} records/s)"
    )


@app.command("status")
def status(db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None) -> None:
    """Show record counts and freshness per source; warn when a source is stale."""
    from medwarden.core.clock import SystemClock

    settings = settings_for(db)
    with open_intel_store(settings, create=False) as store:
        rows = store.status()
    _print_status(rows, SystemClock().now() - STALE_AFTER)


def _print_status(rows: list[SourceStatus], stale_before: datetime) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not rows:
        console.print("[yellow]warning: the mirror is empty; run `medwarden intel load`[/]")
        return
    table = Table(title="Intelligence mirror")
    for column in ("Source", "Records", "Withdrawn", "Last loaded", "Newest record"):
        table.add_column(column, justify="right" if column in ("Records", "Withdrawn") else "left")
    for row in rows:
        table.add_row(
            row.source,
            f"{row.records:,}",
            f"{row.withdrawn:,}",
            _when(row.last_loaded_at),
            _when(row.newest_modified),
        )
    console.print(table)
    for row in rows:
        if row.last_loaded_at is None or row.last_loaded_at < stale_before:
            age = (
                "has no recorded load time"
                if row.last_loaded_at is None
                else f"was last loaded {_when(row.last_loaded_at)} (over {STALE_AFTER.days} days)"
            )
            console.print(
                f"[yellow]warning: {row.source} {age}; findings may be incomplete[/]",
                soft_wrap=True,
            )


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "never"


@app.command("sync")
def sync(
    source: Annotated[
        list[SyncSource] | None, typer.Option(help="Feed to fetch (repeatable; default: all).")
    ] = None,
    nvd_api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the NVD API key.")
    ] = "MEDWARDEN_NVD_API_KEY",
    osv_ecosystem: Annotated[
        list[str] | None, typer.Option(help="OSV ecosystem to sync (repeatable).")
    ] = None,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    nvd_url: Annotated[str | None, typer.Option(help=_URL_HELP.format("NVD CVE API 2.0"))] = None,
    osv_url: Annotated[str | None, typer.Option(help=_URL_HELP.format("OSV bucket"))] = None,
    kev_url: Annotated[str | None, typer.Option(help=_URL_HELP.format("KEV JSON feed"))] = None,
    epss_url: Annotated[str | None, typer.Option(help=_URL_HELP.format("EPSS CSV"))] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
    reevaluate: Annotated[bool, typer.Option(help=_REEVALUATE_HELP)] = True,
) -> None:
    """Fetch new and changed records from the online feeds (or a mirror of them) into the store."""
    from medwarden.cli.sync import run_sync
    from medwarden.intel.fetch import SourceEndpoints

    settings = settings_for(db)
    chosen = tuple(source) if source else _default_sources(osv_ecosystem)
    default = SourceEndpoints()
    endpoints = SourceEndpoints(
        nvd_cves=nvd_url or default.nvd_cves,
        osv_base=osv_url or default.osv_base,
        kev=kev_url or default.kev,
        epss=epss_url or default.epss,
    )
    run_sync(
        settings,
        chosen,
        nvd_api_key_env,
        tuple(osv_ecosystem or ()),
        endpoints=endpoints,
        actor=actor,
        reevaluate=reevaluate,
    )


def _default_sources(ecosystems: list[str] | None) -> tuple[SyncSource, ...]:
    """All feeds; OSV only when ecosystems were named."""
    return tuple(s for s in SyncSource if s is not SyncSource.OSV or ecosystems)
