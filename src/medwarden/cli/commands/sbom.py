"""``medwarden sbom validate|ntia|self``: check an SBOM; write medwarden's own SBOM."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medwarden.cli.exit_codes import ExitCode

__all__ = ["app"]

app = typer.Typer(help="Check SBOM documents; write medwarden's own.", rich_markup_mode=None)

_SBOM_HELP = "CycloneDX JSON/XML or SPDX JSON/tag-value SBOM."


@app.command("validate", no_args_is_help=True)
def validate(
    sbom: Annotated[Path, typer.Argument(help=_SBOM_HELP)],
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on the first schema error.")
    ] = False,
) -> None:
    """List schema and consistency issues with their JSON pointers; exit 2 on errors."""
    from rich.console import Console

    from medwarden.sbom.model import IssueSeverity
    from medwarden.sbom.reading import read_sbom_file

    read = read_sbom_file(sbom, strict=strict)
    console = Console(highlight=False)
    for issue in read.issues:
        style = "red" if issue.severity is IssueSeverity.ERROR else "yellow"
        console.print(f"[{style}]{issue.severity.value}[/]: ", end="")
        console.print(str(issue), markup=False)
    errors = sum(1 for i in read.issues if i.severity is IssueSeverity.ERROR)
    sbom_doc = read.sbom
    console.print(
        f"{sbom}: {sbom_doc.format.value} {sbom_doc.spec_version}, "
        f"{len(sbom_doc.components)} component(s), {errors} error(s), "
        f"{len(read.issues) - errors} warning(s)",
        markup=False,
    )
    if errors:
        raise typer.Exit(int(ExitCode.USAGE))


@app.command("ntia", no_args_is_help=True)
def ntia(sbom: Annotated[Path, typer.Argument(help=_SBOM_HELP)]) -> None:
    """Show which NTIA minimum elements each component has."""
    from rich.console import Console
    from rich.table import Table

    from medwarden.sbom.ntia import NtiaElement, ntia_report
    from medwarden.sbom.reading import read_sbom_file

    report = ntia_report(read_sbom_file(sbom).sbom)
    table = Table(title="NTIA minimum elements")
    table.add_column("Component")
    for element in NtiaElement:
        table.add_column(element.value, justify="center")
    for component in report.components:
        marks = ["✓" if e in component.present else "✗" for e in NtiaElement]
        table.add_row(component.display_name, *marks)
    console = Console(highlight=False)
    console.print(table)
    counts = ", ".join(f"{e.value} {n}/{report.total}" for e, n in report.present_counts)
    console.print(f"{report.complete_count}/{report.total} component(s) complete; {counts}")
    console.print("conformant" if report.conformant else "[yellow]not conformant[/]")


@app.command("self")
def self_sbom(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to FILE.")] = None,
) -> None:
    """Write the CycloneDX 1.6 JSON SBOM of medwarden's installed runtime environment."""
    import sys
    import uuid

    from medwarden.core.clock import SystemClock
    from medwarden.reports.self_sbom import build_self_sbom, render_self_sbom

    document = build_self_sbom("medwarden", now=SystemClock().now(), serial=uuid.uuid4())
    text = render_self_sbom(document)
    if output is None:
        sys.stdout.write(text)
        return
    from medwarden.errors import Location, UsageError

    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot write the SBOM: {exc.strerror or exc}", location=Location(source=str(output))
        ) from exc
    typer.echo(f"{output}: CycloneDX 1.6, {len(document['components'])} component(s)", err=True)
