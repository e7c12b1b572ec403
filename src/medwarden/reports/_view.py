"""Shared views over a scan report: finding order, identifiers and source URLs."""

from __future__ import annotations

from medwarden import __version__
from medwarden.matching.model import Finding, ScoredSeverity
from medwarden.sbom.model import Component, Sbom

__all__ = [
    "TOOL_NAME",
    "TOOL_URI",
    "TOOL_VERSION",
    "advisory_url",
    "best_score",
    "component_index",
    "ordered_findings",
]

TOOL_NAME = "medwarden"
TOOL_VERSION = __version__
TOOL_URI = "https://github.com/medwarden/medwarden"


def component_index(sbom: Sbom) -> dict[str, Component]:
    """Return the SBOM's components by document-local ref."""
    return {c.ref: c for c in sbom.components}


def best_score(finding: Finding) -> ScoredSeverity | None:
    """Return the score that decides the finding's severity: the newest CVSS, then highest."""
    if not finding.scores:
        return None
    return max(finding.scores, key=lambda s: (_version_key(s.version), s.base_score))


def _version_key(version: str) -> float:
    try:
        return float(version.split("/")[0].removeprefix("CVSS:").removeprefix("v"))
    except ValueError:
        return 0.0


def ordered_findings(findings: tuple[Finding, ...], sbom: Sbom) -> list[Finding]:
    """Return findings most severe first, then by component name and vulnerability id."""
    components = component_index(sbom)

    def key(finding: Finding) -> tuple[int, int, str, str]:
        component = components.get(finding.component_ref)
        name = component.display_name if component else finding.component_ref
        return (-finding.severity.rank, int(finding.kev is None), name, finding.vulnerability_id)

    return sorted(findings, key=key)


def advisory_url(vulnerability_id: str) -> str:
    """Return a public page for a vulnerability id (NVD for CVEs, GitHub for GHSA, else OSV)."""
    upper = vulnerability_id.upper()
    if upper.startswith("CVE-"):
        return f"https://nvd.nist.gov/vuln/detail/{upper}"
    if upper.startswith("GHSA-"):
        return f"https://github.com/advisories/{vulnerability_id}"
    return f"https://osv.dev/vulnerability/{vulnerability_id}"
