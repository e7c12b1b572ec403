"""CVE JSON 5 records (5.0, 5.1, 5.2) as published in cvelistV5 or submitted by CNAs.

Reference: https://github.com/CVEProject/cve-schema (CVE_Record_Format.json).
Affected products become :class:`AffectedPackage` values only when the record names a
package registry the OSV ecosystems know (``collectionURL`` + ``packageName``);
``cpeApplicability`` (5.1) becomes CPE configurations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from medwarden.core.ecosystems import normalize_name
from medwarden.intel.model import (
    Advisory,
    AffectedPackage,
    EventKind,
    Provenance,
    RangeEvent,
    RangeType,
    Severity,
    SeverityType,
    Source,
    VersionRange,
)
from medwarden.intel.sources._fields import (
    UNKNOWN_TIME,
    Ctx,
    load_json,
    opt_list,
    opt_obj,
    opt_str,
    opt_time,
    req_obj,
    req_str,
)
from medwarden.intel.sources.base import make_provenance
from medwarden.intel.sources.nvd import parse_cpe_configurations

__all__ = ["COLLECTION_ECOSYSTEMS", "looks_like_cve5", "parse_cve5", "parse_cve5_document"]

COLLECTION_ECOSYSTEMS: dict[str, str] = {
    "https://pkg.go.dev": "Go",
    "https://proxy.golang.org": "Go",
    "https://pypi.org": "PyPI",
    "https://pypi.org/simple": "PyPI",
    "https://pypi.python.org": "PyPI",
    "https://registry.npmjs.org": "npm",
    "https://www.npmjs.com": "npm",
    "https://npmjs.com": "npm",
    "https://repo.maven.apache.org/maven2": "Maven",
    "https://repo1.maven.org/maven2": "Maven",
    "https://crates.io": "crates.io",
    "https://rubygems.org": "RubyGems",
    "https://www.nuget.org": "NuGet",
    "https://api.nuget.org/v3/index.json": "NuGet",
    "https://packagist.org": "Packagist",
    "https://hex.pm": "Hex",
    "https://pub.dev": "Pub",
}
"""``collectionURL`` (lower-case, no trailing slash) -> OSV ecosystem."""

_METRIC_KEYS: tuple[tuple[str, SeverityType], ...] = (
    ("cvssV4_0", SeverityType.CVSS_V4),
    ("cvssV3_1", SeverityType.CVSS_V3),
    ("cvssV3_0", SeverityType.CVSS_V3),
    ("cvssV2_0", SeverityType.CVSS_V2),
)


def parse_cve5(data: bytes, *, fetched_at: datetime, origin: str | None = None) -> list[Advisory]:
    """Parse one CVE JSON 5 record."""
    provenance = make_provenance(Source.CVE5, data, fetched_at=fetched_at, origin=origin)
    return parse_cve5_document(load_json(data, Ctx(origin)), provenance=provenance)


def looks_like_cve5(document: Any) -> bool:
    """Whether a decoded JSON value is a CVE JSON 5 record."""
    return type(document) is dict and (
        document.get("dataType") == "CVE_RECORD" or "cveMetadata" in document
    )


def parse_cve5_document(document: Any, *, provenance: Provenance) -> list[Advisory]:
    """Parse a decoded CVE JSON 5 record into a one-element list."""
    ctx = Ctx(provenance.origin)
    record = req_obj(document, ctx, "")
    meta = req_obj(record.get("cveMetadata"), ctx, "/cveMetadata")
    containers = req_obj(record.get("containers"), ctx, "/containers")
    cna = req_obj(containers.get("cna"), ctx, "/containers/cna")
    adps = [
        req_obj(adp, ctx, f"/containers/adp/{i}")
        for i, adp in enumerate(opt_list(containers, "adp", ctx, "/containers"))
    ]
    tagged = [("/containers/cna", cna)] + [(f"/containers/adp/{i}", a) for i, a in enumerate(adps)]
    cna_meta = opt_obj(cna, "providerMetadata", ctx, "/containers/cna")
    modified = (
        opt_time(meta, "dateUpdated", ctx, "/cveMetadata")
        or opt_time(cna_meta, "dateUpdated", ctx, "/containers/cna/providerMetadata")
        or opt_time(meta, "datePublished", ctx, "/cveMetadata")
        or UNKNOWN_TIME
    )
    rejected = opt_str(meta, "state", ctx, "/cveMetadata") == "REJECTED"
    withdrawn = opt_time(meta, "dateRejected", ctx, "/cveMetadata") or modified
    return [
        Advisory(
            id=req_str(meta, "cveId", ctx, "/cveMetadata"),
            source=Source.CVE5,
            modified=modified,
            summary=_summary(tagged, ctx, rejected),
            published=opt_time(meta, "datePublished", ctx, "/cveMetadata"),
            withdrawn=withdrawn if rejected else None,
            severities=tuple(s for p, c in tagged for s in _metrics(c, ctx, p)),
            affected=tuple(a for p, c in tagged for a in _affected(c, ctx, p)),
            configurations=parse_cpe_configurations(
                opt_list(cna, "cpeApplicability", ctx, "/containers/cna"),
                ctx,
                "/containers/cna/cpeApplicability",
            ),
            references=tuple(dict.fromkeys(u for p, c in tagged for u in _references(c, ctx, p))),
            exploit_references=tuple(dict.fromkeys(u for _p, c in tagged for u in _exploits(c))),
            cwes=tuple(dict.fromkeys(w for p, c in tagged for w in _cwes(c, ctx, p))),
            status=opt_str(meta, "state", ctx, "/cveMetadata"),
            provenance=provenance,
        )
    ]


def _summary(tagged: list[tuple[str, dict[str, Any]]], ctx: Ctx, rejected: bool) -> str | None:
    key = "rejectedReasons" if rejected else "descriptions"
    for pointer, container in tagged:
        for index, item in enumerate(opt_list(container, key, ctx, pointer)):
            entry = req_obj(item, ctx, f"{pointer}/{key}/{index}")
            if str(entry.get("lang", "en")).startswith("en"):
                return opt_str(entry, "value", ctx, f"{pointer}/{key}/{index}")
    return None


def _metrics(container: dict[str, Any], ctx: Ctx, pointer: str) -> list[Severity]:
    source = opt_obj(container, "providerMetadata", ctx, pointer).get("shortName")
    out: list[Severity] = []
    for index, item in enumerate(opt_list(container, "metrics", ctx, pointer)):
        where = f"{pointer}/metrics/{index}"
        metric = req_obj(item, ctx, where)
        for key, kind in _METRIC_KEYS:
            if key in metric:
                data = req_obj(metric[key], ctx, f"{where}/{key}")
                vector = req_str(data, "vectorString", ctx, f"{where}/{key}")
                score = data.get("baseScore")
                base = float(score) if isinstance(score, int | float) else None
                out.append(Severity(kind, vector, base, source if type(source) is str else None))
    return out


def _references(container: dict[str, Any], ctx: Ctx, pointer: str) -> list[str]:
    out: list[str] = []
    for index, item in enumerate(opt_list(container, "references", ctx, pointer)):
        where = f"{pointer}/references/{index}"
        out.append(req_str(req_obj(item, ctx, where), "url", ctx, where))
    return out


def _exploits(container: dict[str, Any]) -> list[str]:
    """URLs of references tagged ``exploit`` (CVE JSON 5 reference tags)."""
    items = container.get("references")
    if type(items) is not list:
        return []
    return [
        item["url"]
        for item in items
        if type(item) is dict
        and type(item.get("tags")) is list
        and "exploit" in item["tags"]
        and type(item.get("url")) is str
    ]


def _cwes(container: dict[str, Any], ctx: Ctx, pointer: str) -> list[str]:
    out: list[str] = []
    for index, item in enumerate(opt_list(container, "problemTypes", ctx, pointer)):
        where = f"{pointer}/problemTypes/{index}"
        for entry in opt_list(req_obj(item, ctx, where), "descriptions", ctx, where):
            if type(entry) is not dict:
                raise ctx.error(where, "expected an object", "descriptions")
            cwe_id = entry.get("cweId")
            cwe = (
                cwe_id if type(cwe_id) is str else _cwe_from_text(str(entry.get("description", "")))
            )
            if cwe:
                out.append(cwe)
    return out


def _cwe_from_text(text: str) -> str | None:
    """Read ``CWE-400: ...`` or ``CWE 400: ...`` (Go CNA records) as ``CWE-400``."""
    if not text.startswith("CWE"):
        return None
    rest = text[3:].lstrip("- ")
    digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
    return f"CWE-{digits}" if digits else None


def _affected(container: dict[str, Any], ctx: Ctx, pointer: str) -> list[AffectedPackage]:
    out: list[AffectedPackage] = []
    for index, item in enumerate(opt_list(container, "affected", ctx, pointer)):
        where = f"{pointer}/affected/{index}"
        entry = req_obj(item, ctx, where)
        url = opt_str(entry, "collectionURL", ctx, where)
        name = opt_str(entry, "packageName", ctx, where)
        ecosystem = COLLECTION_ECOSYSTEMS.get(url.lower().rstrip("/")) if url else None
        if ecosystem is None or name is None:
            continue
        if ecosystem == "Go":
            name = _go_module(entry, name)
        events, versions = _versions(opt_list(entry, "versions", ctx, where), ctx, where)
        ranges = (VersionRange(RangeType.ECOSYSTEM, tuple(events)),) if events else ()
        out.append(
            AffectedPackage(ecosystem, normalize_name(ecosystem, name), ranges, tuple(versions))
        )
    return out


def _go_module(entry: dict[str, Any], package: str) -> str:
    """Go CNA records name the package path; OSV keys Go advisories by module (``vendor``)."""
    vendor = entry.get("vendor")
    if vendor == "Go standard library":
        return "stdlib"
    if type(vendor) is str and "." in vendor and package.startswith(vendor):
        return vendor
    return package


def _versions(items: list[Any], ctx: Ctx, pointer: str) -> tuple[list[RangeEvent], list[str]]:
    events: list[RangeEvent] = []
    versions: list[str] = []
    for index, item in enumerate(items):
        where = f"{pointer}/versions/{index}"
        entry = req_obj(item, ctx, where)
        if req_str(entry, "status", ctx, where) != "affected":
            continue
        version = req_str(entry, "version", ctx, where)
        less_than = opt_str(entry, "lessThan", ctx, where)
        less_equal = opt_str(entry, "lessThanOrEqual", ctx, where)
        if less_than is None and less_equal is None:
            versions.append(version)
            continue
        events.append(RangeEvent(EventKind.INTRODUCED, version))
        if less_than is not None and less_than != "*":
            events.append(RangeEvent(EventKind.FIXED, less_than))
        elif less_equal is not None and less_equal != "*":
            events.append(RangeEvent(EventKind.LAST_AFFECTED, less_equal))
    return events, versions
