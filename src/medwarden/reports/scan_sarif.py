"""SARIF 2.1.0 rendering of a scan (https://docs.oasis-open.org/sarif/sarif/v2.1.0/).

One rule per vulnerability id, one result per finding.  A result's location is the
SBOM file, with the component as a logical location; ``security-severity`` carries
the CVSS score the way GitHub code scanning reads it.  Suppressed findings are
results with an ``external`` suppression that quotes the VEX statement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from medwarden.matching.model import Finding, SeverityRating
from medwarden.reports._view import (
    TOOL_NAME,
    TOOL_URI,
    TOOL_VERSION,
    advisory_url,
    best_score,
    component_index,
    ordered_findings,
)
from medwarden.sbom.model import Component

if TYPE_CHECKING:
    from medwarden.services.scan import ScanReport

__all__ = ["SARIF_SCHEMA", "render_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_LEVELS = {
    SeverityRating.CRITICAL: "error",
    SeverityRating.HIGH: "error",
    SeverityRating.MEDIUM: "warning",
    SeverityRating.LOW: "note",
    SeverityRating.UNKNOWN: "warning",
    SeverityRating.NONE: "note",
}


def render_sarif(report: ScanReport) -> str:
    """Render ``report`` as a SARIF 2.1.0 log (indented JSON text ending in a newline)."""
    components = component_index(report.sbom)
    findings = ordered_findings(report.findings, report.sbom)
    rules: dict[str, dict[str, Any]] = {}
    for finding in findings:
        rules.setdefault(finding.vulnerability_id, _rule(finding))
    rule_index = {rule_id: i for i, rule_id in enumerate(rules)}
    uri = report.sbom.source or "sbom"
    results = [
        _result(f, components.get(f.component_ref), rule_index[f.vulnerability_id], uri)
        for f in findings
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": TOOL_VERSION,
                        "informationUri": TOOL_URI,
                        "rules": list(rules.values()),
                    }
                },
                "artifacts": [{"location": {"uri": uri}}],
                "results": results,
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "endTimeUtc": report.generated_at.isoformat().replace("+00:00", "Z"),
                    }
                ],
            }
        ],
    }
    return orjson.dumps(log, option=orjson.OPT_INDENT_2).decode() + "\n"


def _rule(finding: Finding) -> dict[str, Any]:
    best = best_score(finding)
    summary = finding.summary or finding.vulnerability_id
    properties: dict[str, Any] = {"tags": ["security", "vulnerability", *finding.ids]}
    if best is not None:
        properties["security-severity"] = f"{best.base_score:.1f}"
    return {
        "id": finding.vulnerability_id,
        "name": finding.vulnerability_id.replace("-", ""),
        "shortDescription": {"text": f"{finding.vulnerability_id}: {summary}"[:1000]},
        "fullDescription": {"text": summary},
        "helpUri": advisory_url(finding.vulnerability_id),
        "help": {"text": _help(finding)},
        "defaultConfiguration": {"level": _LEVELS[finding.severity]},
        "properties": properties,
    }


def _help(finding: Finding) -> str:
    aliases = ", ".join(i for i in finding.ids if i != finding.vulnerability_id) or "none"
    fixed = ", ".join(finding.fixed_versions) or "no fixed version known"
    return f"Aliases: {aliases}. Fixed in: {fixed}."


def _result(
    finding: Finding, component: Component | None, rule_index: int, uri: str
) -> dict[str, Any]:
    name = component.display_name if component else finding.component_ref
    fixed = ", ".join(finding.fixed_versions) or "no fixed version known"
    result: dict[str, Any] = {
        "ruleId": finding.vulnerability_id,
        "ruleIndex": rule_index,
        "level": _LEVELS[finding.severity],
        "message": {
            "text": f"{name} is affected by {finding.vulnerability_id} "
            f"({finding.severity.value}); fixed in: {fixed}"
        },
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": uri, "index": 0}},
                "logicalLocations": [
                    {
                        "name": name,
                        "fullyQualifiedName": (component.purl if component else None)
                        or finding.component_ref,
                        "kind": "module",
                    }
                ],
            }
        ],
        "partialFingerprints": {
            "medwarden/v1": f"{finding.component_ref}|{finding.vulnerability_id}"
        },
        "properties": _result_properties(finding),
    }
    if finding.suppression is not None:
        s = finding.suppression
        text = "; ".join(p for p in (s.status, s.justification, s.statement) if p)
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": f"{text} ({s.document})"}
        ]
    return result


def _result_properties(finding: Finding) -> dict[str, Any]:
    properties: dict[str, Any] = {"kev": finding.kev is not None}
    if finding.epss is not None:
        properties["epss"] = finding.epss.score
        properties["epssPercentile"] = finding.epss.percentile
    if finding.matches:
        evidence = finding.matches[0].evidence
        properties["matchMethod"] = evidence.method.value
        properties["confidence"] = max(m.evidence.confidence for m in finding.matches)
    return properties
