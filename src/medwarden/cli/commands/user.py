"""``medwarden user add|list|disable|enable|password``: the people and accounts of the API.

Passwords are never taken from the command line (argv is visible to every local user
and kept in shell history): they are read from the first line of standard input with
``--password-stdin``, or asked for on the terminal without echo.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from medwarden.auth.model import Role
from medwarden.cli.runtime import actor_name, open_intel_store, settings_for
from medwarden.errors import UsageError

if TYPE_CHECKING:
    from medwarden.auth.model import User

__all__ = ["app", "read_password"]

app = typer.Typer(help="Manage the users of the API and their roles.", rich_markup_mode=None)

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."
_ACTOR_HELP = "Who runs this, for the audit trail (default: the OS user name)."
_STDIN_HELP = "Read the password from the first line of standard input."
_ROLE_HELP = "A role (repeatable): admin, security_analyst, regulatory, auditor."


def read_password(*, from_stdin: bool, interactive: bool) -> str:
    """The password: stdin's first line, else asked twice on the terminal (never argv)."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise UsageError("standard input holds no password", hint="pipe it in on one line")
        return line
    if not interactive:
        raise UsageError(
            "there is no terminal to ask for the password",
            hint="pipe it in with --password-stdin, or pass --no-password for a token-only user",
        )
    asked: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return asked


@app.command("add", no_args_is_help=True)
def add(
    name: Annotated[str, typer.Argument(help="User name: letters, digits and . _ @ + -.")],
    role: Annotated[list[Role], typer.Option("--role", help=_ROLE_HELP)],
    product: Annotated[
        list[str] | None,
        typer.Option("--product", help="Limit the user to this product slug (repeatable)."),
    ] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help=_STDIN_HELP)] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="A token-only (service) account.")
    ] = False,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Create a user with roles and, optionally, a product scope (audited)."""
    from medwarden.core.clock import SystemClock
    from medwarden.services.auth import create_user

    if no_password and password_stdin:
        raise UsageError("--no-password and --password-stdin contradict each other")
    password = (
        None
        if no_password
        else read_password(from_stdin=password_stdin, interactive=sys.stdin.isatty())
    )
    with open_intel_store(settings_for(db), create=True) as store:
        user = create_user(
            store.auth,
            name,
            roles=role,
            products=product or None,
            password=password,
            actor=actor_name(actor),
            clock=SystemClock(),
        )
    scope = "every product" if user.products is None else ", ".join(sorted(user.products))
    roles = ", ".join(sorted(r.value for r in user.roles))
    typer.echo(f"user {user.name} created: roles {roles}; products: {scope}")


@app.command("list")
def list_users(db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None) -> None:
    """List users: roles, product scope, whether disabled or without password."""
    with open_intel_store(settings_for(db), create=False) as store:
        users = store.auth.users()
    _print_users(users)


def _set_disabled(name: str, disabled: bool, db: str | None, actor: str | None) -> None:
    from medwarden.core.clock import SystemClock
    from medwarden.services.auth import set_disabled

    with open_intel_store(settings_for(db), create=False) as store:
        set_disabled(store.auth, name, disabled, actor=actor_name(actor), clock=SystemClock())
    typer.echo(f"user {name} {'disabled' if disabled else 'enabled'}")


@app.command("disable", no_args_is_help=True)
def disable(
    name: Annotated[str, typer.Argument(help="The user.")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Disable a user: its password and every one of its tokens stop working at once."""
    _set_disabled(name, True, db, actor)


@app.command("enable", no_args_is_help=True)
def enable(
    name: Annotated[str, typer.Argument(help="The user.")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Enable a disabled user again (tokens that have not expired work again)."""
    _set_disabled(name, False, db, actor)


@app.command("password", no_args_is_help=True)
def password(
    name: Annotated[str, typer.Argument(help="The user.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help=_STDIN_HELP)] = False,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Set a user's password (audited; the password itself is never recorded)."""
    from medwarden.core.clock import SystemClock
    from medwarden.services.auth import set_password

    new = read_password(from_stdin=password_stdin, interactive=sys.stdin.isatty())
    with open_intel_store(settings_for(db), create=False) as store:
        set_password(store.auth, name, new, actor=actor_name(actor), clock=SystemClock())
    typer.echo(f"password of {name} set")


def _print_users(users: list[User]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    if not users:
        console.print("there are no users yet (add one with `medwarden user add`)")
        return
    table = Table(title="Users")
    for column in ("Name", "Roles", "Products", "Password", "State", "Created (UTC)"):
        table.add_column(column)
    for user in users:
        cells = (
            user.name,
            ", ".join(sorted(r.value for r in user.roles)),
            "all" if user.products is None else ", ".join(sorted(user.products)),
            "yes" if user.has_password else "no (tokens only)",
            "disabled" if user.disabled else "enabled",
            user.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
