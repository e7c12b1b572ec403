"""OSV records (schema 1.x), as published by GitHub, the Go vulndb and osv.dev.

Reference: https://ossf.github.io/osv-schema/
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
    Ctx,
    load_json,
    opt_list,
    opt_obj,
    opt_str,
    opt_time,
    reference_urls,
    req_obj,
    req_str,
    req_time,
    str_list,
)
from medwarden.intel.sources.base import make_provenance

__all__ = ["looks_like_osv", "parse_osv", "parse_osv_document", "parse_osv_record"]

_EVENTS: dict[str, EventKind] = {kind.value: kind for kind in EventKind}
_RANGES: dict[str, RangeType] = {kind.value: kind for kind in RangeType}
_SEVERITIES: dict[str, SeverityType] = {kind.value: kind for kind in SeverityType}


def parse_osv(data: bytes, *, fetched_at: datetime, origin: str | None = None) -> list[Advisory]:
    """Parse an OSV JSON document: one record, an array of records or ``{"vulns": [...]}``."""
    provenance = make_provenance(Source.OSV, data, fetched_at=fetched_at, origin=origin)
    return parse_osv_document(load_json(data, Ctx(origin)), provenance=provenance)


def looks_like_osv(document: Any) -> bool:
    """Whether a decoded JSON value has the shape of an OSV record (or a list/``vulns``)."""
    if type(document) is list:
        return bool(document) and looks_like_osv(document[0])
    if type(document) is not dict:
        return False
    if type(document.get("vulns")) is list:
        return True
    return "id" in document and "modified" in document


def parse_osv_document(document: Any, *, provenance: Provenance) -> list[Advisory]:
    """Parse a decoded OSV document; anything else raises IntelParseError."""
    ctx = Ctx(provenance.origin)
    if type(document) is dict and "vulns" in document:
        items = document["vulns"]
        if type(items) is not list:
            raise ctx.error("", "expected an array of OSV records", "vulns")
        return [
            parse_osv_record(req_obj(item, ctx, f"/vulns/{i}"), provenance, ctx, f"/vulns/{i}")
            for i, item in enumerate(items)
        ]
    if type(document) is list:
        if not document:
            raise ctx.error("", "an empty array is not an OSV document")
        return [
            parse_osv_record(req_obj(item, ctx, f"/{i}"), provenance, ctx, f"/{i}")
            for i, item in enumerate(document)
        ]
    return [parse_osv_record(req_obj(document, ctx, ""), provenance, ctx, "")]


def parse_osv_record(
    record: dict[str, Any], provenance: Provenance, ctx: Ctx, pointer: str = ""
) -> Advisory:
    """Parse one OSV record object into an :class:`Advisory`."""
    aliases = str_list(record, "aliases", ctx, pointer)
    if "upstream" in record:
        aliases += tuple(a for a in str_list(record, "upstream", ctx, pointer) if a not in aliases)
    database = opt_obj(record, "database_specific", ctx, pointer)
    cwes = database.get("cwe_ids")
    return Advisory(
        id=req_str(record, "id", ctx, pointer),
        source=Source.OSV,
        modified=req_time(record, "modified", ctx, pointer),
        aliases=aliases,
        summary=opt_str(record, "summary", ctx, pointer),
        details=opt_str(record, "details", ctx, pointer),
        published=opt_time(record, "published", ctx, pointer),
        withdrawn=opt_time(record, "withdrawn", ctx, pointer),
        severities=_severities(opt_list(record, "severity", ctx, pointer), ctx, pointer),
        affected=_affected(opt_list(record, "affected", ctx, pointer), ctx, pointer + "/affected"),
        references=reference_urls(opt_list(record, "references", ctx, pointer), ctx, pointer),
        exploit_references=_evidence(opt_list(record, "references", ctx, pointer)),
        cwes=str_list(database, "cwe_ids", ctx, pointer + "/database_specific") if cwes else (),
        provenance=provenance,
    )


def _severities(items: list[Any], ctx: Ctx, pointer: str) -> tuple[Severity, ...]:
    out: list[Severity] = []
    for index, item in enumerate(items):
        where = f"{pointer}/severity/{index}"
        entry = req_obj(item, ctx, where)
        kind = _SEVERITIES.get(req_str(entry, "type", ctx, where))
        if kind is not None:  # Ubuntu and other qualitative scales are not CVSS vectors
            out.append(Severity(type=kind, vector=req_str(entry, "score", ctx, where)))
    return tuple(out)


def _evidence(items: list[Any]) -> tuple[str, ...]:
    """URLs of references of type ``EVIDENCE`` (exploitation report or proof of concept)."""
    return tuple(
        dict.fromkeys(
            item["url"]
            for item in items
            if type(item) is dict
            and item.get("type") == "EVIDENCE"
            and type(item.get("url")) is str
        )
    )


def _affected(items: list[Any], ctx: Ctx, pointer: str) -> tuple[AffectedPackage, ...]:
    out: list[AffectedPackage] = []
    for index, item in enumerate(items):
        if type(item) is not dict:
            raise ctx.error(f"{pointer}/{index}", "expected an object")
        package = item.get("package")
        if package is None:  # GIT-only entries name a repository, not a package
            continue
        if type(package) is not dict:
            raise ctx.error(f"{pointer}/{index}", "expected an object", "package")
        ecosystem = package.get("ecosystem")
        name = package.get("name")
        if type(ecosystem) is not str or type(name) is not str or not ecosystem or not name:
            where = f"{pointer}/{index}/package"
            ecosystem = req_str(package, "ecosystem", ctx, where)
            name = req_str(package, "name", ctx, where)
        ranges = item.get("ranges")
        versions = item.get("versions")
        out.append(
            AffectedPackage(
                ecosystem=ecosystem,
                name=normalize_name(ecosystem.partition(":")[0], name),
                ranges=() if ranges is None else _ranges(ranges, ctx, f"{pointer}/{index}"),
                versions=()
                if versions is None
                else str_list(item, "versions", ctx, f"{pointer}/{index}"),
                purl=opt_str(package, "purl", ctx, f"{pointer}/{index}/package"),
            )
        )
    return tuple(out)


def _ranges(value: Any, ctx: Ctx, pointer: str) -> tuple[VersionRange, ...]:
    if type(value) is not list:
        raise ctx.error(pointer, "expected an array", "ranges")
    return tuple(_range(item, ctx, f"{pointer}/ranges/{index}") for index, item in enumerate(value))


def _range(value: Any, ctx: Ctx, pointer: str) -> VersionRange:
    entry = req_obj(value, ctx, pointer)
    type_name = entry.get("type")
    range_type = _RANGES.get(type_name) if type(type_name) is str else None
    if range_type is None:
        raise ctx.error(pointer, f"unknown OSV range type {entry.get('type')!r}", "type")
    items = entry.get("events")
    if type(items) is not list or not items:
        raise ctx.error(pointer, "a range needs a non-empty array of events", "events")
    events: list[RangeEvent] = []
    cache = _EVENT_CACHE
    for event in items:
        try:
            ((key, version),) = event.items()
            events.append(cache[key, version])
        except (AttributeError, ValueError, KeyError, TypeError):
            events.append(_new_event(event, ctx, f"{pointer}/events/{len(events)}"))
    return VersionRange(range_type, tuple(events))


_EVENT_CACHE: dict[tuple[str, str], RangeEvent] = {}
_EVENT_CACHE_LIMIT = 100_000


def _new_event(event: Any, ctx: Ctx, pointer: str) -> RangeEvent:
    """Validate one event and remember it: equal events are shared (``introduced: 0``)."""
    if type(event) is not dict or len(event) != 1:
        raise ctx.error(pointer, "an event must be an object with exactly one key")
    ((key, version),) = event.items()
    kind = _EVENTS.get(key)
    if kind is None or type(version) is not str or not version:
        raise ctx.error(pointer, "expected introduced/fixed/last_affected/limit: version", key)
    if len(_EVENT_CACHE) >= _EVENT_CACHE_LIMIT:
        _EVENT_CACHE.clear()
    value = _EVENT_CACHE[key, version] = RangeEvent(kind, version)
    return value
