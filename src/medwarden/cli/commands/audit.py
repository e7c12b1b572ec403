"""``medwarden audit verify|log``: check the hash-chained audit trail and list its events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from medwarden.cli.runtime import open_intel_store, settings_for

if TYPE_CHECKING:
    from medwarden.audit.model import AuditEvent

__all__ = ["app"]

app = typer.Typer(
    help="Verify and list the append-only, hash-chained audit trail.",
    rich_markup_mode=None,
)

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."


@app.command("verify")
def verify(
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            metavar="COUNT:HASH",
            help="A head recorded earlier (printed by this command); detects a truncated "
            "or rewritten trail.",
        ),
    ] = None,
) -> None:
    """Re-compute every event's hash and link; exit 4 naming the first broken event."""
    from medwarden.audit.chain import Checkpoint
    from medwarden.services.audit import verify as verify_trail

    expected = Checkpoint.parse(checkpoint) if checkpoint is not None else None
    with open_intel_store(settings_for(db), create=False) as store:
        report = verify_trail(store.audit, checkpoint=expected)
    if report.empty:
        typer.echo("audit trail is empty: no events recorded, nothing verified")
        return
    typer.echo(f"audit trail intact: {report.count} events, head {report.head}")
    if expected is not None:
        typer.echo(f"matches the checkpoint {expected}")
    typer.echo(f"checkpoint: {report.checkpoint}")


@app.command("log")
def log(
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many of the latest events.")] = 50,
) -> None:
    """List the latest events: seq, time, actor, action, subject, reason (not verified)."""
    from medwarden.services.audit import recent

    with open_intel_store(settings_for(db), create=False) as store:
        events = recent(store.audit, limit)
        count, head = store.audit.head()
    _print_events(events, count, head)


def _print_events(events: list[AuditEvent], count: int, head: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    if not events:
        console.print("the audit trail is empty")
        return
    table = Table(title="Audit trail")
    for column in ("Seq", "Time (UTC)", "Actor", "Action", "Subject", "Reason"):
        table.add_column(column, justify="right" if column == "Seq" else "left")
    for event in events:
        cells = (
            str(event.seq),
            event.at.strftime("%Y-%m-%d %H:%M:%S"),
            event.actor,
            event.action,
            f"{event.subject_type}:{event.subject_id}",
            event.reason or "",
        )
        table.add_row(*(Text(cell) for cell in cells))  # stored text is never Rich markup
    console.print(table)
    console.print(
        f"{len(events)} of {count} events; head {count}:{head} "
        "(listed as stored; run `medwarden audit verify` to check them)",
        soft_wrap=True,
    )
