"""A minimal loader of the copied OSV and NVD fixtures into domain objects.

The real parsers live in ``medwarden.intel.sources``; this loader reads only what
matching needs, so that the matching tests do not depend on them.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medwarden.core.ecosystems import normalize_name, split_ecosystem
from medwarden.intel.model import (
    Advisory,
    AffectedPackage,
    CpeConfiguration,
    CpeMatch,
    CpeNode,
    EpssScore,
    EventKind,
    KevEntry,
    RangeEvent,
    RangeType,
    Severity,
    SeverityType,
    Source,
    VersionRange,
)

FIXTURES = Path(__file__).parent / "fixtures"

_NVD_METRICS = {
    "cvssMetricV40": SeverityType.CVSS_V4,
    "cvssMetricV31": SeverityType.CVSS_V3,
    "cvssMetricV30": SeverityType.CVSS_V3,
    "cvssMetricV2": SeverityType.CVSS_V2,
}


def _when(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _range(raw: dict[str, Any]) -> VersionRange:
    events = tuple(
        RangeEvent(EventKind(kind), version) for e in raw["events"] for kind, version in e.items()
    )
    return VersionRange(RangeType(raw["type"]), events)


def _affected(raw: dict[str, Any]) -> AffectedPackage:
    package = raw["package"]
    family, _ = split_ecosystem(package["ecosystem"])
    return AffectedPackage(
        ecosystem=package["ecosystem"],
        name=normalize_name(family, package["name"]),
        ranges=tuple(_range(r) for r in raw.get("ranges", ())),
        versions=tuple(raw.get("versions", ())),
        purl=package.get("purl"),
    )


def osv(record_id: str) -> Advisory:
    """Load ``fixtures/osv/<record_id>.json`` as an Advisory."""
    raw = json.loads((FIXTURES / "osv" / f"{record_id}.json").read_text())
    return Advisory(
        id=raw["id"],
        source=Source.OSV,
        modified=_when(raw["modified"]),
        aliases=tuple(raw.get("aliases") or ()),
        summary=raw.get("summary"),
        details=raw.get("details"),
        withdrawn=_when(raw["withdrawn"]) if raw.get("withdrawn") else None,
        severities=tuple(
            Severity(SeverityType(s["type"]), s["score"]) for s in raw.get("severity", ())
        ),
        affected=tuple(_affected(a) for a in raw.get("affected", ())),
    )


def _cpe_match(raw: dict[str, Any]) -> CpeMatch:
    return CpeMatch(
        criteria=raw["criteria"],
        vulnerable=raw["vulnerable"],
        version_start_including=raw.get("versionStartIncluding"),
        version_start_excluding=raw.get("versionStartExcluding"),
        version_end_including=raw.get("versionEndIncluding"),
        version_end_excluding=raw.get("versionEndExcluding"),
    )


def _configuration(raw: dict[str, Any]) -> CpeConfiguration:
    nodes = tuple(
        CpeNode(n["operator"], tuple(_cpe_match(m) for m in n["cpeMatch"]), n.get("negate", False))
        for n in raw["nodes"]
    )
    return CpeConfiguration(nodes, raw.get("operator", "OR"), raw.get("negate", False))


def _severities(metrics: dict[str, Any]) -> tuple[Severity, ...]:
    return tuple(
        Severity(kind, m["cvssData"]["vectorString"], m["cvssData"]["baseScore"], m["source"])
        for key, kind in _NVD_METRICS.items()
        for m in metrics.get(key, ())
    )


def nvd(cve_id: str) -> Advisory:
    """Load ``fixtures/nvd/<cve_id>.json`` (an NVD API 2.0 ``cve`` object) as an Advisory."""
    raw = json.loads((FIXTURES / "nvd" / f"{cve_id}.json").read_text())
    if "vulnerabilities" in raw:  # a whole API response rather than the ``cve`` object
        raw = raw["vulnerabilities"][0]["cve"]
    description = next((d["value"] for d in raw["descriptions"] if d["lang"] == "en"), None)
    return Advisory(
        id=raw["id"],
        source=Source.NVD,
        modified=_when(raw["lastModified"]),
        details=description,
        published=_when(raw["published"]),
        withdrawn=_when(raw["lastModified"]) if raw["vulnStatus"] == "Rejected" else None,
        severities=_severities(raw.get("metrics", {})),
        configurations=tuple(_configuration(c) for c in raw.get("configurations", ())),
        status=raw["vulnStatus"],
    )


def kev_entry() -> KevEntry:
    """The real KEV catalog entry of CVE-2023-44487 (HTTP/2 Rapid Reset)."""
    raw = json.loads((FIXTURES / "kev-CVE-2023-44487.json").read_text())["vulnerabilities"][0]
    return KevEntry(
        cve_id=raw["cveID"],
        vendor=raw["vendorProject"],
        product=raw["product"],
        name=raw["vulnerabilityName"],
        date_added=_when(raw["dateAdded"]),
        due_date=_when(raw["dueDate"]),
        known_ransomware=raw["knownRansomwareCampaignUse"],
        required_action=raw["requiredAction"],
    )


def epss_scores() -> list[EpssScore]:
    """Every row of the real EPSS subset."""
    lines = (FIXTURES / "epss_scores-subset.csv").read_text().splitlines()
    rows = csv.DictReader(line for line in lines if not line.startswith("#"))
    return [EpssScore(r["cve"], float(r["epss"]), float(r["percentile"])) for r in rows]
