"""``medwarden notify channel add|list|enable|disable`` and ``medwarden notify test``."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from medwarden.cli.runtime import actor_name, open_intel_store, settings_for

if TYPE_CHECKING:
    from medwarden.notify.model import Channel
    from medwarden.services.notifications import SmtpSettings

__all__ = [
    "SmtpFrom",
    "SmtpHost",
    "SmtpPort",
    "SmtpStartTls",
    "SmtpTls",
    "SmtpUser",
    "app",
    "smtp_settings",
]

app = typer.Typer(
    help="Notification channels (signed webhooks, e-mail) and test deliveries.",
    rich_markup_mode=None,
)
channel_app = typer.Typer(help="Add, list, enable and disable channels.", rich_markup_mode=None)
app.add_typer(channel_app, name="channel")

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."
_ACTOR_HELP = "Who runs this, for the audit trail (default: the OS user name)."

SmtpHost = Annotated[
    str | None, typer.Option(help="SMTP server for e-mail channels (none: e-mail is not sent).")
]
SmtpPort = Annotated[int, typer.Option(min=1, max=65535, help="SMTP port.")]
SmtpFrom = Annotated[str, typer.Option(help="Sender address of notification e-mails.")]
SmtpStartTls = Annotated[
    bool, typer.Option("--smtp-starttls/--no-smtp-starttls", help="Upgrade with STARTTLS.")
]
SmtpTls = Annotated[bool, typer.Option(help="Connect with TLS from the start (port 465).")]
SmtpUser = Annotated[
    str | None,
    typer.Option(help="SMTP login name; the password is read from MEDWARDEN_SMTP_PASSWORD."),
]


class Severity(StrEnum):
    """Thresholds accepted by ``--min-severity``."""

    NONE = "none"
    UNKNOWN = "unknown"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


def smtp_settings(
    host: str | None, port: int, sender: str, starttls: bool, tls: bool, user: str | None
) -> SmtpSettings | None:
    """SMTP settings from the options (password from ``MEDWARDEN_SMTP_PASSWORD``)."""
    if host is None:
        return None
    from medwarden.config import read_secret
    from medwarden.services.notifications import SmtpSettings

    return SmtpSettings(
        host=host,
        port=port,
        sender=sender,
        starttls=starttls and not tls,
        implicit_tls=tls,
        username=user,
        password=read_secret("MEDWARDEN_SMTP_PASSWORD"),
    )


@channel_app.command("add", no_args_is_help=True)
def add(
    name: Annotated[str, typer.Argument(help="A new channel name, e.g. psirt-webhook.")],
    webhook: Annotated[str | None, typer.Option(help="Webhook URL (https://...).")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(help="File holding the webhook signing secret (default: generate one)."),
    ] = None,
    min_severity: Annotated[
        Severity, typer.Option(help="Drop notifications below this severity.")
    ] = Severity.NONE,
    kind: Annotated[
        list[str] | None,
        typer.Option(help="Subscribe to this kind (repeatable; default: every kind)."),
    ] = None,
    product: Annotated[
        str | None, typer.Option(help="Only this product's notifications (its slug).")
    ] = None,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Add a webhook or e-mail channel (audited); a generated secret is shown once."""
    from medwarden.core.clock import SystemClock
    from medwarden.errors import UsageError
    from medwarden.intel.cvss import SeverityRating
    from medwarden.notify.model import Channel, ChannelKind, NotificationKind
    from medwarden.notify.signing import new_secret

    if (webhook is None) == (email is None):
        raise UsageError("give exactly one of --webhook URL and --email ADDRESS")
    generated = False
    secret = None
    if webhook is not None:
        if secret_file is not None:
            secret = secret_file.read_text(encoding="utf-8").strip()
        else:
            secret, generated = new_secret(), True
    try:
        kinds = frozenset(NotificationKind(k) for k in kind) if kind else None
    except ValueError:
        known = ", ".join(k.value for k in NotificationKind)
        raise UsageError(f"unknown notification kind in {kind}", hint=f"known: {known}") from None
    channel = Channel(
        name=name,
        kind=ChannelKind.WEBHOOK if webhook is not None else ChannelKind.EMAIL,
        target=webhook or email or "",
        secret=secret,
        min_severity=SeverityRating(min_severity.value),
        product=product,
    )
    if kinds:
        channel = replace(channel, kinds=kinds)
    with open_intel_store(settings_for(db), create=True) as store:
        store.notifications.add_channel(channel, actor=actor_name(actor), at=SystemClock().now())
    typer.echo(f"added {channel.kind.value} channel {channel.name} -> {channel.display_target}")
    if generated:
        typer.echo(f"signing secret (shown once, give it to the receiver): {secret}")


@channel_app.command("list")
def list_channels(db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None) -> None:
    """List the channels (secrets are never shown)."""
    with open_intel_store(settings_for(db), create=False) as store:
        channels = store.notifications.channels()
    _print_channels(channels)


def _print_channels(channels: list[Channel]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    if not channels:
        console.print("no notification channels; add one with `medwarden notify channel add`")
        return
    table = Table(title="Notification channels")
    for column in ("Name", "Kind", "Target", "Min severity", "Kinds", "Product", "Enabled"):
        table.add_column(column)
    for channel in channels:
        cells = (
            channel.name,
            channel.kind.value,
            channel.display_target,
            channel.min_severity.value,
            ", ".join(sorted(k.value for k in channel.kinds)),
            channel.product or "(all)",
            "yes" if channel.enabled else "no",
        )
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)


def _set_enabled(
    name: str, enabled: bool, db: str | None, actor: str | None, reason: str | None
) -> None:
    from medwarden.core.clock import SystemClock

    with open_intel_store(settings_for(db), create=False) as store:
        store.notifications.set_channel_enabled(
            name, enabled, actor=actor_name(actor), at=SystemClock().now(), reason=reason
        )
    typer.echo(f"channel {name} {'enabled' if enabled else 'disabled'}")


@channel_app.command("disable", no_args_is_help=True)
def disable(
    name: Annotated[str, typer.Argument(help="The channel.")],
    reason: Annotated[str | None, typer.Option(help="Why, for the audit trail.")] = None,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Stop sending to a channel (audited); its pending deliveries wait."""
    _set_enabled(name, False, db, actor, reason)


@channel_app.command("enable", no_args_is_help=True)
def enable(
    name: Annotated[str, typer.Argument(help="The channel.")],
    reason: Annotated[str | None, typer.Option(help="Why, for the audit trail.")] = None,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Send to a channel again (audited), including what waited while it was disabled."""
    _set_enabled(name, True, db, actor, reason)


@app.command("test", no_args_is_help=True)
def send_test_notification(
    channel: Annotated[str, typer.Argument(help="The channel to send a test notification to.")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Webhook timeout in seconds.")] = 10.0,
    smtp_host: SmtpHost = None,
    smtp_port: SmtpPort = 587,
    smtp_from: SmtpFrom = "medwarden@localhost",
    smtp_starttls: SmtpStartTls = True,
    smtp_tls: SmtpTls = False,
    smtp_user: SmtpUser = None,
) -> None:
    """Send one test notification to CHANNEL now (not through the outbox); exit 3 if refused."""
    import httpx

    from medwarden.core.clock import SystemClock
    from medwarden.errors import MedwardenError
    from medwarden.services.notifications import SendOutcome, send_test

    smtp = smtp_settings(smtp_host, smtp_port, smtp_from, smtp_starttls, smtp_tls, smtp_user)
    with open_intel_store(settings_for(db), create=False) as store:
        target = store.notifications.channel(channel)
    with httpx.Client(follow_redirects=False) as client:
        result = send_test(target, SystemClock(), client=client, smtp=smtp, timeout=timeout)
    if result.outcome is not SendOutcome.DELIVERED:
        raise MedwardenError(
            f"the test notification to {channel} was not delivered: {result.detail}",
            hint="check the receiver (and its signature check) or the SMTP options",
        )
    typer.echo(f"delivered a test notification to {channel}: {result.detail}")
