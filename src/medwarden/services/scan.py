"""The scan use case: SBOM in, findings with evidence out.

The same function serves the CLI, the API and the web UI: read (done by the caller,
who owns the input), match against the mirror, apply VEX, and return a report that
renderers turn into a table, JSON, SARIF or CycloneDX.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from medwarden.core.clock import Clock
from medwarden.matching.base import AdvisoryIndex
from medwarden.matching.engine import match_sbom
from medwarden.matching.model import Finding, SeverityRating, SkippedComponent
from medwarden.sbom.model import Sbom, SbomReadResult, ValidationIssue
from medwarden.vex.apply import apply_vex
from medwarden.vex.model import VexStatement

__all__ = ["FailThreshold", "ScanReport", "scan_sbom"]


@dataclass(frozen=True, slots=True)
class ScanReport:
    """Everything a scan found, for every renderer."""

    sbom: Sbom
    findings: tuple[Finding, ...]
    skipped: tuple[SkippedComponent, ...]
    issues: tuple[ValidationIssue, ...]
    generated_at: datetime
    vex_documents: tuple[str, ...] = field(default=())

    @property
    def active_findings(self) -> tuple[Finding, ...]:
        """Findings not suppressed by a VEX statement."""
        return tuple(f for f in self.findings if not f.suppressed)


@dataclass(frozen=True, slots=True)
class FailThreshold:
    """When a scan should fail a pipeline: at or above a severity, or on any KEV finding."""

    severity: SeverityRating | None = None
    kev: bool = False

    def is_breached_by(self, report: ScanReport) -> bool:
        """Whether any unsuppressed finding reaches the threshold."""
        for finding in report.active_findings:
            if self.kev and finding.kev is not None:
                return True
            if self.severity is not None and finding.severity.rank >= self.severity.rank:
                return True
        return False


def scan_sbom(
    read: SbomReadResult,
    index: AdvisoryIndex,
    *,
    clock: Clock,
    vex: Sequence[VexStatement] = (),
) -> ScanReport:
    """Match every component of ``read.sbom`` against ``index`` and apply ``vex``."""
    outcome = match_sbom(read.sbom, index)
    findings = apply_vex(outcome.findings, read.sbom, vex) if vex else outcome.findings
    documents = tuple(sorted({s.document for s in vex}))
    report = ScanReport(
        sbom=read.sbom,
        findings=findings,
        skipped=outcome.skipped,
        issues=read.issues,
        generated_at=clock.now(),
    )
    return replace(report, vex_documents=documents)
