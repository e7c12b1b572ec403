"""The Rich table rendering of a scan, for people at a terminal (``--format table``).

Findings first (suppressed ones only with ``--show-suppressed``), then components
that could not be analysed with the reason, then a summary of validation issues.
"""

from __future__ import annotations

import io
from collections import Counter
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from medwarden.matching.model import Exploitation, Finding, SeverityRating
from medwarden.reports._view import best_score, component_index, ordered_findings
from medwarden.sbom.model import Component, IssueSeverity

if TYPE_CHECKING:
    from medwarden.services.scan import ScanReport

__all__ = ["render_scan_table"]

_STYLES = {
    SeverityRating.CRITICAL: "bold red",
    SeverityRating.HIGH: "red",
    SeverityRating.MEDIUM: "yellow",
    SeverityRating.LOW: "green",
    SeverityRating.UNKNOWN: "dim",
    SeverityRating.NONE: "dim",
}
_MAX_ISSUES_SHOWN = 10


def render_scan_table(
    report: ScanReport, *, show_suppressed: bool = False, color: bool = False, width: int = 160
) -> str:
    """Render ``report`` as text tables (ANSI colours only when ``color``)."""
    buffer = io.StringIO()
    console = Console(
        file=buffer, force_terminal=color, no_color=not color, width=width, highlight=False
    )
    components = component_index(report.sbom)
    shown = [
        f
        for f in ordered_findings(report.findings, report.sbom)
        if show_suppressed or not f.suppressed
    ]
    if shown:
        console.print(_findings_table(shown, components))
    _print_summary(console, report, show_suppressed)
    if report.skipped:
        console.print(_skipped_table(report, components))
    _print_issues(console, report)
    return buffer.getvalue()


def _findings_table(findings: list[Finding], components: dict[str, Component]) -> Table:
    table = Table(title="Findings", show_lines=False, expand=False)
    for column in ("Component", "Version", "Vulnerability", "Severity", "CVSS", "Exploit"):
        table.add_column(column, no_wrap=column != "Vulnerability")
    table.add_column("EPSS (pct)", justify="right")
    table.add_column("Fixed in")
    table.add_column("Match")
    for finding in findings:
        table.add_row(*_row(finding, components.get(finding.component_ref)))
    return table


def _row(finding: Finding, component: Component | None) -> list[str | Text]:
    name = component.display_name.rsplit("@", 1)[0] if component else finding.component_ref
    version = (component.version if component else None) or "-"
    aliases = [i for i in finding.ids if i != finding.vulnerability_id]
    vuln = finding.vulnerability_id + (f"\n({', '.join(aliases)})" if aliases else "")
    if finding.suppression is not None:
        vuln += f"\nsuppressed: {finding.suppression.status}"
    best = best_score(finding)
    epss = finding.epss
    evidence = [m.evidence for m in finding.matches]
    method = (
        f"{evidence[0].method.value} {max(e.confidence for e in evidence):.2f}" if evidence else "-"
    )
    return [
        name,
        version,
        vuln,
        Text(finding.severity.value, style=_STYLES[finding.severity]),
        f"{best.base_score:.1f}" if best else "-",
        _exploit_cell(finding),
        f"{epss.score:.3f} ({epss.percentile * 100:.0f}%)" if epss else "-",
        ", ".join(finding.fixed_versions) or "-",
        method,
    ]


def _exploit_cell(finding: Finding) -> str | Text:
    """SSVC Exploitation: ``KEV`` (active, in CISA KEV), ``PoC`` (public exploit), or blank."""
    if finding.exploitation is Exploitation.ACTIVE:
        return Text("KEV", style="bold red")
    if finding.exploitation is Exploitation.PUBLIC_POC:
        return Text("PoC", style="yellow")
    return ""


def _print_summary(console: Console, report: ScanReport, show_suppressed: bool) -> None:
    active = report.active_findings
    counts = Counter(f.severity for f in active)
    parts = [
        f"{counts[s]} {s.value}" for s in sorted(SeverityRating, key=lambda r: -r.rank) if counts[s]
    ]
    kev = sum(1 for f in active if f.kev is not None)
    line = (
        f"{len(active)} active finding(s) in {len(report.sbom.components)} component(s)"
        + (f": {', '.join(parts)}" if parts else "")
        + (f"; {kev} in CISA KEV" if kev else "")
    )
    console.print(line)
    suppressed = len(report.findings) - len(active)
    if suppressed:
        tail = "" if show_suppressed else " (shown with --show-suppressed)"
        console.print(f"{suppressed} finding(s) suppressed by VEX{tail}")


def _skipped_table(report: ScanReport, components: dict[str, Component]) -> Table:
    table = Table(title="Components not analysed")
    table.add_column("Component")
    table.add_column("Reason")
    table.add_column("Detail")
    for skip in report.skipped:
        component = components.get(skip.component_ref)
        name = component.display_name if component else skip.component_ref
        table.add_row(name, skip.reason.value, skip.detail)
    return table


def _print_issues(console: Console, report: ScanReport) -> None:
    if not report.issues:
        return
    counts = Counter(i.severity for i in report.issues)
    console.print(
        f"SBOM validation: {counts[IssueSeverity.ERROR]} error(s), "
        f"{counts[IssueSeverity.WARNING]} warning(s)",
        style="yellow",
    )
    for issue in report.issues[:_MAX_ISSUES_SHOWN]:
        console.print(f"  {issue.severity.value}: {issue}", markup=False)
    if len(report.issues) > _MAX_ISSUES_SHOWN:
        rest = len(report.issues) - _MAX_ISSUES_SHOWN
        console.print(f"  ... {rest} more (medwarden sbom validate)")
