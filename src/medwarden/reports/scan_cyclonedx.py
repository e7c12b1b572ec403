"""CycloneDX 1.6 JSON rendering of a scan: the SBOM's components plus ``vulnerabilities``.

Built by hand from domain values (no library types cross in), and validated against
the official 1.6 JSON schema in the tests.  Every ``affects[].ref`` is the bom-ref of
a component in the output (or of ``metadata.component``).  Ratings carry the CVSS
method, vector and score; aliases become ``references``; suppressed findings get an
``analysis`` from their VEX statement; KEV, EPSS and match evidence become
``medwarden:*`` properties.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import TYPE_CHECKING, Any

import orjson

from medwarden.matching.model import Finding, ScoredSeverity, SeverityRating
from medwarden.reports._view import (
    TOOL_NAME,
    TOOL_URI,
    TOOL_VERSION,
    advisory_url,
    ordered_findings,
)
from medwarden.sbom.model import Component, Sbom
from medwarden.vex.model import JUSTIFICATION_TO_CDX, VexJustification

if TYPE_CHECKING:
    from medwarden.services.scan import ScanReport

__all__ = ["render_cyclonedx", "scan_to_cyclonedx"]

_COMPONENT_TYPES = frozenset(
    [
        "application",
        "framework",
        "library",
        "container",
        "platform",
        "operating-system",
        "device",
        "device-driver",
        "firmware",
        "file",
        "machine-learning-model",
        "data",
        "cryptographic-asset",
    ]
)
_HASH_ALGORITHMS = {
    re.sub(r"[^a-z0-9]", "", alg.lower()): alg
    for alg in [
        "MD5",
        "SHA-1",
        "SHA-256",
        "SHA-384",
        "SHA-512",
        "SHA3-256",
        "SHA3-384",
        "SHA3-512",
        "BLAKE2b-256",
        "BLAKE2b-384",
        "BLAKE2b-512",
        "BLAKE3",
    ]
}
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_SEVERITIES = {
    SeverityRating.CRITICAL: "critical",
    SeverityRating.HIGH: "high",
    SeverityRating.MEDIUM: "medium",
    SeverityRating.LOW: "low",
    SeverityRating.NONE: "none",
    SeverityRating.UNKNOWN: "unknown",
}
_STATES = {"not_affected": "not_affected", "fixed": "resolved"}


def render_cyclonedx(report: ScanReport) -> str:
    """Render ``report`` as CycloneDX 1.6 JSON text ending in a newline."""
    return orjson.dumps(scan_to_cyclonedx(report), option=orjson.OPT_INDENT_2).decode() + "\n"


def scan_to_cyclonedx(report: ScanReport) -> dict[str, Any]:
    """Return the CycloneDX 1.6 document of ``report`` as a JSON-ready dict."""
    sbom = report.sbom
    root = sbom.component(sbom.root_ref) if sbom.root_ref else None
    components = [c for c in sbom.components if c is not root]
    refs = {c.ref for c in sbom.components} | ({sbom.root_ref} if sbom.root_ref else set())
    metadata: dict[str, Any] = {
        "timestamp": report.generated_at.isoformat().replace("+00:00", "Z"),
        "tools": {
            "components": [
                {"type": "application", "name": TOOL_NAME, "version": TOOL_VERSION}
                | {"externalReferences": [{"type": "website", "url": TOOL_URI}]}
            ]
        },
    }
    root_json = _root(sbom, root)
    if root_json is not None:
        metadata["component"] = root_json
    seed = f"{sbom.serial_number or sbom.source or ''}|{report.generated_at.isoformat()}"
    document: dict[str, Any] = {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": uuid.uuid5(uuid.NAMESPACE_URL, f"medwarden:{seed}").urn,
        "version": 1,
        "metadata": metadata,
        "components": [_component(c) for c in components],
    }
    dependencies = [
        {"ref": d.ref, "dependsOn": sorted({r for r in d.depends_on if r in refs})}
        for d in sbom.dependencies
        if d.ref in refs
    ]
    if dependencies:
        document["dependencies"] = dependencies
    findings = [f for f in ordered_findings(report.findings, sbom) if f.component_ref in refs]
    document["vulnerabilities"] = [_vulnerability(f, i) for i, f in enumerate(findings)]
    return document


def _root(sbom: Sbom, root: Component | None) -> dict[str, Any] | None:
    if root is not None:
        return _component(root)
    if not sbom.name:
        return None
    out: dict[str, Any] = {"type": "application", "name": sbom.name}
    if sbom.root_ref:
        out["bom-ref"] = sbom.root_ref
    if sbom.version:
        out["version"] = sbom.version
    return out


def _component(component: Component) -> dict[str, Any]:
    kind = component.component_type if component.component_type in _COMPONENT_TYPES else None
    out: dict[str, Any] = {
        "type": kind or "library",
        "bom-ref": component.ref,
        "name": component.name,
    }
    optional = {
        "group": component.group,
        "version": component.version,
        "purl": component.purl,
        "cpe": component.cpes[0] if component.cpes else None,
    }
    out |= {k: v for k, v in optional.items() if v}
    if component.supplier:
        out["supplier"] = {"name": component.supplier}
    hashes = [
        {"alg": alg, "content": h.value}
        for h in component.hashes
        if (alg := _HASH_ALGORITHMS.get(re.sub(r"[^a-z0-9]", "", h.algorithm.lower())))
        and _HEX.match(h.value)
    ]
    if hashes:
        out["hashes"] = hashes
    if component.licenses:
        out["licenses"] = [{"license": {"name": name}} for name in component.licenses]
    if component.properties:
        out["properties"] = [{"name": k, "value": v} for k, v in component.properties]
    return out


def _vulnerability(finding: Finding, index: int) -> dict[str, Any]:
    source = finding.matches[0].evidence.record_source.value if finding.matches else None
    out: dict[str, Any] = {
        "bom-ref": f"vulnerability-{index + 1}",
        "id": finding.vulnerability_id,
        "source": {
            "name": (source or "medwarden").upper(),
            "url": advisory_url(finding.vulnerability_id),
        },
    }
    aliases = [i for i in finding.ids if i != finding.vulnerability_id]
    if aliases:
        out["references"] = [{"id": a, "source": {"url": advisory_url(a)}} for a in aliases]
    out["ratings"] = [_rating(s) for s in finding.scores] or [
        {"severity": _SEVERITIES[finding.severity]}
    ]
    if finding.summary:
        out["description"] = finding.summary
    if finding.fixed_versions:
        out["recommendation"] = "Upgrade to " + ", ".join(finding.fixed_versions)
    if finding.suppression is not None:
        out["analysis"] = _analysis(finding)
    out["affects"] = [{"ref": finding.component_ref}]
    out["properties"] = _properties(finding)
    return out


def _rating(score: ScoredSeverity) -> dict[str, Any]:
    rating: dict[str, Any] = {
        "score": score.base_score,
        "severity": _SEVERITIES[score.rating],
        "method": _method(score.version),
        "vector": score.vector,
    }
    if score.source:
        rating["source"] = {"name": score.source}
    return rating


def _method(version: str) -> str:
    digits = re.sub(r"[^0-9]", "", version)
    return {"2": "CVSSv2", "20": "CVSSv2", "3": "CVSSv3", "30": "CVSSv3", "31": "CVSSv31"}.get(
        digits, "CVSSv4" if digits.startswith("4") else "other"
    )


def _analysis(finding: Finding) -> dict[str, Any]:
    suppression = finding.suppression
    if suppression is None:
        return {}
    analysis: dict[str, Any] = {"state": _STATES.get(suppression.status, "not_affected")}
    if suppression.justification:
        with contextlib.suppress(ValueError):
            analysis["justification"] = JUSTIFICATION_TO_CDX[
                VexJustification(suppression.justification)
            ]
    detail = suppression.statement or ""
    analysis["detail"] = f"{detail} (VEX: {suppression.document})".strip()
    return analysis


def _properties(finding: Finding) -> list[dict[str, str]]:
    props: list[tuple[str, str]] = [("medwarden:kev", "true" if finding.kev else "false")]
    if finding.kev is not None:
        props.append(("medwarden:kev:dateAdded", finding.kev.date_added.date().isoformat()))
    if finding.epss is not None:
        props.append(("medwarden:epss:score", f"{finding.epss.score:.5f}"))
        props.append(("medwarden:epss:percentile", f"{finding.epss.percentile:.5f}"))
    for match in finding.matches:
        evidence = match.evidence
        props.append(
            (
                "medwarden:match",
                f"{evidence.method.value} {evidence.record_id} confidence={evidence.confidence}",
            )
        )
    return [{"name": k, "value": v} for k, v in props]
