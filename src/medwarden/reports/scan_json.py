"""The stable JSON scan report (``--format json``), documented in ``docs/scan-json.md``.

Compatibility rule: within one ``schema_version`` major, fields are only ever added;
a removal or change of meaning bumps the major.  Keys are sorted within objects,
findings are ordered most severe first, and timestamps are RFC 3339 UTC.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from medwarden.intel.model import EpssScore, KevEntry
from medwarden.matching.model import Finding, Match, SeverityRating
from medwarden.reports._view import (
    TOOL_NAME,
    TOOL_VERSION,
    best_score,
    component_index,
    ordered_findings,
)
from medwarden.sbom.model import Component, IssueSeverity

if TYPE_CHECKING:
    from medwarden.services.scan import ScanReport

__all__ = ["SCHEMA_VERSION", "finding_evidence", "render_json", "scan_to_dict"]

SCHEMA_VERSION = "1.0"
"""Version of the JSON layout; see ``docs/scan-json.md``."""


def render_json(report: ScanReport) -> str:
    """Render ``report`` as indented, key-sorted JSON text ending in a newline."""
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    return orjson.dumps(scan_to_dict(report), option=options).decode() + "\n"


def scan_to_dict(report: ScanReport) -> dict[str, Any]:
    """Return the JSON-ready structure of ``report``."""
    components = component_index(report.sbom)
    findings = ordered_findings(report.findings, report.sbom)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": TOOL_VERSION},
        "generated_at": _time(report.generated_at),
        "sbom": _sbom(report),
        "summary": _summary(report),
        "findings": [_finding(f, components.get(f.component_ref)) for f in findings],
        "skipped": [
            {
                "component": _component(s.component_ref, components.get(s.component_ref)),
                "reason": s.reason.value,
                "detail": s.detail,
            }
            for s in report.skipped
        ],
        "issues": [
            {
                "severity": i.severity.value,
                "message": i.message,
                "pointer": i.pointer,
                "line": i.line,
            }
            for i in report.issues
        ],
        "vex_documents": list(report.vex_documents),
    }


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _sbom(report: ScanReport) -> dict[str, Any]:
    sbom = report.sbom
    return {
        "source": sbom.source,
        "format": sbom.format.value,
        "spec_version": sbom.spec_version,
        "serial_number": sbom.serial_number,
        "name": sbom.name,
        "version": sbom.version,
        "timestamp": _time(sbom.timestamp),
        "components": len(sbom.components),
    }


def _summary(report: ScanReport) -> dict[str, Any]:
    active = report.active_findings
    by_severity = Counter(f.severity.value for f in active)
    issue_counts = Counter(i.severity.value for i in report.issues)
    return {
        "findings": len(report.findings),
        "active": len(active),
        "suppressed": len(report.findings) - len(active),
        "by_severity": {s.value: by_severity.get(s.value, 0) for s in SeverityRating},
        "kev": sum(1 for f in active if f.kev is not None),
        "skipped_components": len(report.skipped),
        "issues": {s.value: issue_counts.get(s.value, 0) for s in IssueSeverity},
    }


def _component(ref: str, component: Component | None) -> dict[str, Any]:
    if component is None:
        return {"ref": ref, "name": None, "version": None, "purl": None, "cpes": []}
    return {
        "ref": ref,
        "name": component.display_name.rsplit("@", 1)[0],
        "version": component.version,
        "purl": component.purl,
        "cpes": list(component.cpes),
    }


def _finding(finding: Finding, component: Component | None) -> dict[str, Any]:
    best = best_score(finding)
    suppression = finding.suppression
    return {
        "component": _component(finding.component_ref, component),
        "vulnerability_id": finding.vulnerability_id,
        "aliases": [i for i in finding.ids if i != finding.vulnerability_id],
        "summary": finding.summary,
        "severity": finding.severity.value,
        "cvss": [
            {
                "version": s.version,
                "vector": s.vector,
                "base_score": s.base_score,
                "rating": s.rating.value,
                "source": s.source,
            }
            for s in finding.scores
        ],
        "cvss_score": best.base_score if best else None,
        "kev": None if finding.kev is None else _kev(finding.kev),
        "exploitation": finding.exploitation.value,
        "exploit_references": list(finding.exploit_references),
        "epss": None if finding.epss is None else _epss(finding.epss),
        "fixed_versions": list(finding.fixed_versions),
        "matches": [_match(m) for m in finding.matches],
        "suppressed": suppression is not None,
        "suppression": None
        if suppression is None
        else {
            "status": suppression.status,
            "justification": suppression.justification,
            "statement": suppression.statement,
            "document": suppression.document,
            "vulnerability": suppression.vulnerability,
        },
    }


def finding_evidence(finding: Finding) -> dict[str, Any]:
    """A finding's component-independent facts as this format writes them.

    Ids, summary, severity, CVSS, exploitation, fixed versions and every match with its
    evidence; no component, KEV, EPSS or suppression (those change on their own)."""
    out = _finding(finding, None)
    for key in ("component", "kev", "epss", "suppressed", "suppression"):
        del out[key]
    return out


def _kev(kev: KevEntry) -> dict[str, Any]:
    return {
        "date_added": _time(kev.date_added),
        "due_date": _time(kev.due_date),
        "known_ransomware": kev.known_ransomware,
        "required_action": kev.required_action,
    }


def _epss(epss: EpssScore) -> dict[str, Any]:
    return {
        "score": epss.score,
        "percentile": epss.percentile,
        "date": _time(epss.score_date),
    }


def _match(match: Match) -> dict[str, Any]:
    evidence = match.evidence
    return {
        "record_id": match.record_id,
        "record_source": evidence.record_source.value,
        "method": evidence.method.value,
        "identifier": evidence.identifier,
        "criteria": evidence.criteria,
        "range": evidence.range,
        "confidence": evidence.confidence,
        "fixed_versions": list(match.fixed_versions),
    }
