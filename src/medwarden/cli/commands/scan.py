"""``medwarden scan``: match an SBOM against the local mirror, apply VEX, render."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from medwarden.cli.exit_codes import ExitCode
from medwarden.cli.renderers import FailOn, OutputFormat, RenderOptions, render_scan, threshold_for
from medwarden.cli.runtime import err_console, open_intel_store, settings_for

__all__ = ["scan"]


def scan(
    sbom: Annotated[Path, typer.Argument(help="CycloneDX JSON/XML or SPDX JSON/tag-value SBOM.")],
    db: Annotated[str | None, typer.Option(help="Store path or SQLAlchemy URL.")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.TABLE,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to FILE.")] = None,
    fail_on: Annotated[FailOn, typer.Option(help="Exit 1 at/above this.")] = FailOn.HIGH,
    vex: Annotated[list[Path] | None, typer.Option(help="VEX document (repeatable).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Refuse schema errors.")] = False,
    show_suppressed: Annotated[
        bool, typer.Option("--show-suppressed", help="Table: list VEX-suppressed findings.")
    ] = False,
) -> None:
    """Scan an SBOM for known vulnerabilities; exit 1 when one reaches --fail-on."""
    from medwarden.core.clock import SystemClock
    from medwarden.sbom.reading import read_sbom_file
    from medwarden.services.scan import scan_sbom
    from medwarden.vex.io import read_vex_file

    settings = settings_for(db)
    read = read_sbom_file(sbom, strict=strict)
    statements = [s for path in vex or () for s in read_vex_file(path)]
    with open_intel_store(settings, create=False) as store:
        if settings.progress:
            with err_console().status(f"Matching {len(read.sbom.components)} components"):
                report = scan_sbom(read, store, clock=SystemClock(), vex=statements)
        else:
            report = scan_sbom(read, store, clock=SystemClock(), vex=statements)
    color = output is None and fmt is OutputFormat.TABLE and sys.stdout.isatty()
    text = render_scan(report, fmt, RenderOptions(show_suppressed=show_suppressed, color=color))
    if output is None:
        sys.stdout.write(text)
    else:
        _write(output, text)
    if threshold_for(fail_on).is_breached_by(report):
        raise typer.Exit(int(ExitCode.FINDINGS))


def _write(path: Path, text: str) -> None:
    from medwarden.errors import Location, UsageError

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot write the report: {exc.strerror or exc}", location=Location(source=str(path))
        ) from exc
