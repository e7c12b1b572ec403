"""``medwarden token create|list|revoke``: API tokens, created by the operator for a user.

``token create`` prints the token (``mwt_<id>_<secret>``) on standard output, once: only
the SHA-256 of its secret is stored, so it can never be shown again.  Everything else
goes to standard error, so ``TOKEN=$(medwarden token create ...)`` captures the token only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from medwarden.auth.model import Role
from medwarden.cli.runtime import actor_name, open_intel_store, settings_for

if TYPE_CHECKING:
    from datetime import datetime

    from medwarden.auth.model import ApiToken

__all__ = ["app"]

app = typer.Typer(help="Create, list and revoke API tokens.", rich_markup_mode=None)

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."
_ACTOR_HELP = "Who runs this, for the audit trail (default: the OS user name)."


@app.command("create", no_args_is_help=True)
def create(
    user: Annotated[str, typer.Option("--user", help="The user the token acts for.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. ci.")],
    role: Annotated[
        list[Role], typer.Option("--role", help="A role (repeatable), held by the user.")
    ],
    expires_days: Annotated[
        int,
        typer.Option(
            "--expires-days",
            min=1,
            help="Days until it expires (at most MEDWARDEN_TOKEN_MAX_DAYS).",
        ),
    ],
    product: Annotated[
        list[str] | None,
        typer.Option("--product", help="Limit the token to this product slug (repeatable)."),
    ] = None,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Create a token for a user and print it once (audited, without the secret)."""
    from medwarden.core.clock import SystemClock
    from medwarden.services.auth import create_token

    settings = settings_for(db)
    with open_intel_store(settings, create=False) as store:
        issued = create_token(
            store.auth,
            owner=user,
            name=name,
            roles=role,
            products=product or None,
            lifetime=timedelta(days=expires_days),
            max_lifetime=timedelta(days=settings.token_max_days),
            actor=actor_name(actor),
            clock=SystemClock(),
        )
    typer.echo(issued.plaintext)
    token = issued.token
    typer.echo(
        f"token {token.token_id} ({token.name}) for {token.owner}, expires "
        f"{_utc(token.expires_at)}; store it now, it cannot be shown again",
        err=True,
    )


@app.command("revoke", no_args_is_help=True)
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token id (or the whole token).")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Revoke a token: it stops working at once, in every API process (audited)."""
    from medwarden.auth.tokens import TOKEN_PREFIX, parse_token
    from medwarden.core.clock import SystemClock
    from medwarden.services.auth import revoke_token

    if token_id.startswith(f"{TOKEN_PREFIX}_"):
        token_id = parse_token(token_id).token_id  # a leaked token pasted whole
    with open_intel_store(settings_for(db), create=False) as store:
        token = revoke_token(store.auth, token_id, actor=actor_name(actor), clock=SystemClock())
    typer.echo(f"token {token.token_id} ({token.name}) of {token.owner} revoked")


@app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """List tokens (never their secrets): owner, roles, scope, expiry, state, last use."""
    from medwarden.core.clock import SystemClock

    with open_intel_store(settings_for(db), create=False) as store:
        tokens = store.auth.tokens(owner=user)
    _print_tokens(tokens, SystemClock().now())


def _utc(at: datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M:%S")


def _print_tokens(tokens: list[ApiToken], now: datetime) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    if not tokens:
        console.print("there are no API tokens")
        return
    table = Table(title="API tokens")
    columns = ("Id", "Owner", "Name", "Roles", "Products", "Expires (UTC)", "State", "Last used")
    for column in columns:
        table.add_column(column)
    for token in tokens:
        cells = (
            token.token_id,
            token.owner,
            token.name,
            ", ".join(sorted(r.value for r in token.roles)),
            "owner's" if token.products is None else ", ".join(sorted(token.products)),
            _utc(token.expires_at),
            token.state(now).value,
            _utc(token.last_used_at) or "never",
        )
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
