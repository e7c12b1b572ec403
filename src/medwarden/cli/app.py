"""The ``medwarden`` Typer application and :func:`main`, the console-script entry point.

Errors are mapped to exit codes in one place (:mod:`medwarden.cli.exit_codes`): the
group's ``invoke`` catches every :class:`~medwarden.errors.MedwardenError`, prints its
``diagnostics()`` to stderr and exits with the mapped code.  Commands import heavy
modules (SQLAlchemy, univers, cyclonedx, jsonschema) inside their bodies so that
``medwarden --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer import _click
from typer.core import TyperGroup

from medwarden import __version__
from medwarden.cli.commands import (
    audit,
    device,
    intel,
    ledger,
    monitor,
    mqtt,
    notify,
    portfolio,
    portfolio_records,
    sbom,
    scan,
    serve,
    store,
    token,
    triage,
    user,
    worker,
)
from medwarden.cli.exit_codes import ExitCode, exit_code_for
from medwarden.errors import MedwardenError

__all__ = ["app", "main"]


class MedwardenGroup(TyperGroup):
    """A Typer group whose invocation maps medwarden errors to exit codes."""

    def invoke(self, ctx: _click.Context) -> Any:
        """Run the command; report a :class:`MedwardenError` on stderr and exit with its code."""
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise
        except MedwardenError as exc:
            typer.echo(exc.diagnostics(), err=True)
            raise typer.Exit(int(exit_code_for(exc))) from exc
        except Exception as exc:
            typer.echo(f"[internal] unexpected {type(exc).__name__}: {exc}", err=True)
            typer.echo("  hint: this is a bug in medwarden; please report it", err=True)
            raise typer.Exit(int(ExitCode.INTERNAL)) from exc


app = typer.Typer(
    name="medwarden",
    cls=MedwardenGroup,
    help="Post-market cybersecurity for medical devices: scan SBOMs against mirrored "
    "vulnerability intelligence, apply VEX, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("scan", no_args_is_help=True)(scan.scan)
app.add_typer(intel.app, name="intel")
app.add_typer(sbom.app, name="sbom")
app.add_typer(audit.app, name="audit")
app.add_typer(store.app, name="store")
app.add_typer(user.app, name="user")
app.add_typer(token.app, name="token")
app.command("serve")(serve.serve)
app.add_typer(notify.app, name="notify")
app.add_typer(monitor.app, name="monitor")
app.add_typer(worker.app, name="worker")
app.add_typer(triage.app, name="triage")
app.add_typer(triage.policy_app, name="policy")
app.add_typer(portfolio.product_app, name="product")
app.add_typer(portfolio.release_app, name="release")
app.add_typer(portfolio.findings_app, name="findings")
app.add_typer(portfolio.portfolio_app, name="portfolio")
app.add_typer(device.app, name="device")
app.add_typer(ledger.app, name="ledger")
app.add_typer(mqtt.app, name="mqtt")
portfolio.release_app.command("support", no_args_is_help=True)(portfolio_records.release_support)
portfolio.portfolio_app.command("evidence", no_args_is_help=True)(
    portfolio_records.portfolio_evidence
)
portfolio.portfolio_app.command("register-self")(portfolio_records.portfolio_register_self)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"medwarden {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Post-market cybersecurity for medical devices."""


def main() -> None:
    """Run the ``medwarden`` command line and exit with its code."""
    app()
