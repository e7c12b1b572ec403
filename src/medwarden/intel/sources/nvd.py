"""NVD CVE API 2.0: single ``cve`` objects and full API response pages.

Reference: https://nvd.nist.gov/developers/vulnerabilities (schema
https://csrc.nist.gov/schema/nvd/api/2.0/cve_api_json_2.0.schema).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from medwarden.intel.model import (
    Advisory,
    CpeConfiguration,
    CpeMatch,
    CpeNode,
    Provenance,
    Severity,
    SeverityType,
    Source,
)
from medwarden.intel.sources._fields import (
    Ctx,
    load_json,
    opt_bool,
    opt_float,
    opt_list,
    opt_obj,
    opt_str,
    opt_time,
    reference_urls,
    req_obj,
    req_str,
    req_time,
)
from medwarden.intel.sources.base import make_provenance

__all__ = [
    "looks_like_nvd",
    "parse_cpe_configurations",
    "parse_nvd",
    "parse_nvd_cve",
    "parse_nvd_document",
]

_METRICS: tuple[tuple[str, SeverityType], ...] = (
    ("cvssMetricV40", SeverityType.CVSS_V4),
    ("cvssMetricV31", SeverityType.CVSS_V3),
    ("cvssMetricV30", SeverityType.CVSS_V3),
    ("cvssMetricV2", SeverityType.CVSS_V2),
)


def parse_nvd(data: bytes, *, fetched_at: datetime, origin: str | None = None) -> list[Advisory]:
    """Parse an NVD CVE API 2.0 document (a ``cve`` object or a response page)."""
    provenance = make_provenance(Source.NVD, data, fetched_at=fetched_at, origin=origin)
    return parse_nvd_document(load_json(data, Ctx(origin)), provenance=provenance)


def looks_like_nvd(document: Any) -> bool:
    """Whether a decoded JSON value is an NVD API page, ``{"cve": ...}`` or a ``cve`` object."""
    if type(document) is not dict:
        return False
    if "resultsPerPage" in document or document.get("format") == "NVD_CVE":
        return True
    return "cve" in document or ("vulnStatus" in document and "lastModified" in document)


def parse_nvd_document(document: Any, *, provenance: Provenance) -> list[Advisory]:
    """Parse a decoded NVD document; anything else raises IntelParseError."""
    ctx = Ctx(provenance.origin)
    root = req_obj(document, ctx, "")
    if "vulnerabilities" in root or "resultsPerPage" in root:
        items = root.get("vulnerabilities")
        if type(items) is not list:
            raise ctx.error(
                "", "an NVD API page needs a 'vulnerabilities' array", "vulnerabilities"
            )
        out: list[Advisory] = []
        for index, item in enumerate(items):
            pointer = f"/vulnerabilities/{index}"
            cve = req_obj(req_obj(item, ctx, pointer).get("cve"), ctx, pointer + "/cve")
            out.append(parse_nvd_cve(cve, provenance=provenance, ctx=ctx, pointer=pointer + "/cve"))
        return out
    if "cve" in root:
        cve = req_obj(root["cve"], ctx, "/cve")
        return [parse_nvd_cve(cve, provenance=provenance, ctx=ctx, pointer="/cve")]
    if "vulnStatus" in root or "lastModified" in root:
        return [parse_nvd_cve(root, provenance=provenance, ctx=ctx, pointer="")]
    raise ctx.error("", "not an NVD CVE API 2.0 record or response page")


def parse_nvd_cve(
    cve: dict[str, Any], *, provenance: Provenance, ctx: Ctx, pointer: str
) -> Advisory:
    """Parse one NVD ``cve`` object into an :class:`Advisory`."""
    modified = req_time(cve, "lastModified", ctx, pointer)
    status = opt_str(cve, "vulnStatus", ctx, pointer)
    return Advisory(
        id=req_str(cve, "id", ctx, pointer),
        source=Source.NVD,
        modified=modified,
        summary=_english(opt_list(cve, "descriptions", ctx, pointer), ctx, pointer),
        published=opt_time(cve, "published", ctx, pointer),
        withdrawn=modified if status == "Rejected" else None,
        severities=_severities(opt_obj(cve, "metrics", ctx, pointer), ctx, pointer + "/metrics"),
        configurations=parse_cpe_configurations(
            opt_list(cve, "configurations", ctx, pointer), ctx, pointer + "/configurations"
        ),
        references=reference_urls(opt_list(cve, "references", ctx, pointer), ctx, pointer),
        exploit_references=_exploit_references(opt_list(cve, "references", ctx, pointer)),
        cwes=_cwes(opt_list(cve, "weaknesses", ctx, pointer), ctx, pointer + "/weaknesses"),
        status=status,
        provenance=provenance,
    )


def _english(descriptions: list[Any], ctx: Ctx, pointer: str) -> str | None:
    fallback: str | None = None
    for index, item in enumerate(descriptions):
        entry = req_obj(item, ctx, f"{pointer}/descriptions/{index}")
        value = opt_str(entry, "value", ctx, f"{pointer}/descriptions/{index}")
        if str(entry.get("lang", "en")).startswith("en"):
            return value
        fallback = fallback or value
    return fallback


def _severities(metrics: dict[str, Any], ctx: Ctx, pointer: str) -> tuple[Severity, ...]:
    out: list[Severity] = []
    for key, kind in _METRICS:
        for index, item in enumerate(opt_list(metrics, key, ctx, pointer)):
            where = f"{pointer}/{key}/{index}"
            metric = req_obj(item, ctx, where)
            data = req_obj(metric.get("cvssData"), ctx, where + "/cvssData")
            out.append(
                Severity(
                    type=kind,
                    vector=req_str(data, "vectorString", ctx, where + "/cvssData"),
                    base_score=opt_float(data, "baseScore", ctx, where + "/cvssData"),
                    source=opt_str(metric, "source", ctx, where),
                )
            )
    return tuple(out)


def _exploit_references(items: list[Any]) -> tuple[str, ...]:
    """URLs of references NVD tags ``Exploit`` (malformed entries were reported already)."""
    urls: dict[str, None] = {}
    for item in items:
        tags = item.get("tags") if type(item) is dict else None
        if type(tags) is list and "Exploit" in tags:
            url = item.get("url")
            if type(url) is str and url:
                urls[url] = None
    return tuple(urls)


def _cwes(items: list[Any], ctx: Ctx, pointer: str) -> tuple[str, ...]:
    cwes: dict[str, None] = {}
    for index, item in enumerate(items):
        weakness = req_obj(item, ctx, f"{pointer}/{index}")
        for entry in opt_list(weakness, "description", ctx, f"{pointer}/{index}"):
            value = req_obj(entry, ctx, f"{pointer}/{index}/description").get("value")
            if type(value) is str and value.startswith("CWE-"):
                cwes[value] = None
    return tuple(cwes)


def parse_cpe_configurations(
    items: list[Any], ctx: Ctx, pointer: str
) -> tuple[CpeConfiguration, ...]:
    """Parse NVD ``configurations`` (also CVE 5.1 ``cpeApplicability``, same shape)."""
    out: list[CpeConfiguration] = []
    for index, item in enumerate(items):
        where = f"{pointer}/{index}"
        config = req_obj(item, ctx, where)
        nodes = tuple(
            _node(node, ctx, f"{where}/nodes/{n}")
            for n, node in enumerate(opt_list(config, "nodes", ctx, where))
        )
        if not nodes:
            raise ctx.error(where, "a configuration needs at least one node", "nodes")
        out.append(
            CpeConfiguration(
                nodes=nodes,
                operator=opt_str(config, "operator", ctx, where) or "OR",
                negate=opt_bool(config, "negate", False, ctx, where),
            )
        )
    return tuple(out)


def _node(value: Any, ctx: Ctx, pointer: str) -> CpeNode:
    fast = _fast_node(value)
    if fast is not None:
        return fast
    node = req_obj(value, ctx, pointer)
    items = opt_list(node, "cpeMatch", ctx, pointer)
    matches = tuple(
        _fast_match(item) or _match(item, ctx, f"{pointer}/cpeMatch/{index}")
        for index, item in enumerate(items)
    )
    operator = opt_str(node, "operator", ctx, pointer) or "OR"
    if operator not in ("OR", "AND"):
        raise ctx.error(pointer, f"operator must be OR or AND, found {operator!r}", "operator")
    return CpeNode(
        operator=operator, matches=matches, negate=opt_bool(node, "negate", False, ctx, pointer)
    )


def _fast_node(value: Any) -> CpeNode | None:
    """Build a well-formed node without the checking helpers; ``None`` sends it to them."""
    if type(value) is not dict:
        return None
    items = value.get("cpeMatch")
    operator = value.get("operator", "OR")
    negate = value.get("negate", False)
    if type(items) is not list or operator not in ("OR", "AND") or type(negate) is not bool:
        return None
    matches = []
    for item in items:
        match = _fast_match(item)
        if match is None:
            return None
        matches.append(match)
    return CpeNode(operator=operator, matches=tuple(matches), negate=negate)


_BOUNDS = (
    "versionStartIncluding",
    "versionStartExcluding",
    "versionEndIncluding",
    "versionEndExcluding",
)


def _fast_match(value: Any) -> CpeMatch | None:
    """Build a well-formed ``cpeMatch`` quickly; ``None`` sends it to the checking path."""
    if type(value) is not dict:
        return None
    criteria = value.get("criteria")
    vulnerable = value.get("vulnerable", True)
    if type(criteria) is not str or not criteria or type(vulnerable) is not bool:
        return None
    key = (
        criteria,
        vulnerable,
        value.get("versionStartIncluding"),
        value.get("versionStartExcluding"),
        value.get("versionEndIncluding"),
        value.get("versionEndExcluding"),
    )
    try:
        return _MATCH_CACHE[key]
    except (KeyError, TypeError):
        pass
    for bound in key[2:]:
        if bound is not None and type(bound) is not str:
            return None
    if len(_MATCH_CACHE) >= _MATCH_CACHE_LIMIT:
        _MATCH_CACHE.clear()
    match = _MATCH_CACHE[key] = CpeMatch(criteria, vulnerable, *(b or None for b in key[2:]))
    return match


# Equal matches are shared: platform criteria (debian_linux:10.0...) recur across many CVEs.
_MATCH_CACHE: dict[tuple[str, bool, str | None, str | None, str | None, str | None], CpeMatch] = {}
_MATCH_CACHE_LIMIT = 100_000


def _match(value: Any, ctx: Ctx, pointer: str) -> CpeMatch:
    match = req_obj(value, ctx, pointer)
    return CpeMatch(
        criteria=req_str(match, "criteria", ctx, pointer),
        vulnerable=opt_bool(match, "vulnerable", True, ctx, pointer),
        version_start_including=opt_str(match, "versionStartIncluding", ctx, pointer),
        version_start_excluding=opt_str(match, "versionStartExcluding", ctx, pointer),
        version_end_including=opt_str(match, "versionEndIncluding", ctx, pointer),
        version_end_excluding=opt_str(match, "versionEndExcluding", ctx, pointer),
    )
