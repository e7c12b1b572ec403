"""Domain :class:`~medwarden.intel.model.Advisory` <-> compact stored JSON.

The payload is a versioned JSON object built by hand (no reflection): field names
as in the domain model, empty and ``None`` fields omitted, datetimes as RFC 3339
UTC strings.  Encoding and decoding go through ``orjson`` and construct the frozen
dataclasses directly, which keeps decoding a few microseconds per record.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from medwarden.core.clock import ensure_utc
from medwarden.errors import StoreError
from medwarden.intel.model import (
    Advisory,
    AffectedPackage,
    CpeConfiguration,
    CpeMatch,
    CpeNode,
    EventKind,
    Provenance,
    RangeEvent,
    RangeType,
    Severity,
    SeverityType,
    Source,
    VersionRange,
)

__all__ = ["PAYLOAD_VERSION", "decode_advisory", "encode_advisory"]

PAYLOAD_VERSION = 1
"""Version of the payload layout; bump it (and convert old rows) when the layout changes."""

_SOURCES = {m.value: m for m in Source}
_EVENTS = {m.value: m for m in EventKind}
_RANGE_TYPES = {m.value: m for m in RangeType}
_SEVERITY_TYPES = {m.value: m for m in SeverityType}
_MATCH_BOUNDS = (
    "version_start_including",
    "version_start_excluding",
    "version_end_including",
    "version_end_excluding",
)

Json = dict[str, Any]


def _ts(value: datetime | None) -> str | None:
    return None if value is None else ensure_utc(value).isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _put(target: Json, key: str, value: Any) -> None:
    if value is not None and value != ():
        target[key] = value


def _affected(pkg: AffectedPackage) -> Json:
    out: Json = {"ecosystem": pkg.ecosystem, "name": pkg.name}
    if pkg.ranges:
        out["ranges"] = [
            [r.type.value, [[e.kind.value, e.version] for e in r.events]] for r in pkg.ranges
        ]
    _put(out, "versions", pkg.versions)
    _put(out, "purl", pkg.purl)
    return out


@lru_cache(maxsize=65_536)
def _match(m: CpeMatch) -> Json:
    """Encode one CPE match; cached, since platform criteria recur across many CVEs.

    The returned dict is shared between payloads and must never be mutated."""
    out: Json = {"criteria": m.criteria, "vulnerable": m.vulnerable}
    for key in _MATCH_BOUNDS:
        _put(out, key, getattr(m, key))
    return out


def _configuration(c: CpeConfiguration) -> Json:
    nodes = [
        {"operator": n.operator, "negate": n.negate, "matches": [_match(m) for m in n.matches]}
        for n in c.nodes
    ]
    return {"operator": c.operator, "negate": c.negate, "nodes": nodes}


def _provenance(p: Provenance) -> Json:
    out: Json = {"source": p.source.value, "fetched_at": _ts(p.fetched_at), "digest": p.digest}
    _put(out, "origin", p.origin)
    _put(out, "license", p.license)
    return out


def _severity(s: Severity) -> Json:
    out: Json = {"type": s.type.value, "vector": s.vector}
    _put(out, "base_score", s.base_score)
    _put(out, "source", s.source)
    return out


def encode_advisory(adv: Advisory) -> bytes:
    """Serialise ``adv`` into the compact stored payload."""
    out: Json = {"v": PAYLOAD_VERSION, "id": adv.id, "source": adv.source.value}
    out["modified"] = _ts(adv.modified)
    _put(out, "aliases", adv.aliases)
    _put(out, "summary", adv.summary)
    _put(out, "details", adv.details)
    _put(out, "published", _ts(adv.published))
    _put(out, "withdrawn", _ts(adv.withdrawn))
    if adv.severities:
        out["severities"] = [_severity(s) for s in adv.severities]
    if adv.affected:
        out["affected"] = [_affected(p) for p in adv.affected]
    if adv.configurations:
        out["configurations"] = [_configuration(c) for c in adv.configurations]
    _put(out, "references", adv.references)
    _put(out, "exploit_references", adv.exploit_references)
    _put(out, "cwes", adv.cwes)
    _put(out, "status", adv.status)
    if adv.provenance is not None:
        out["provenance"] = _provenance(adv.provenance)
    return orjson.dumps(out)


def _decode_affected(d: Json) -> AffectedPackage:
    ranges = tuple(
        VersionRange(_RANGE_TYPES[t], tuple(RangeEvent(_EVENTS[k], v) for k, v in events))
        for t, events in d.get("ranges", ())
    )
    return AffectedPackage(
        d["ecosystem"], d["name"], ranges, tuple(d.get("versions", ())), d.get("purl")
    )


def _decode_match(d: Json) -> CpeMatch:
    return CpeMatch(
        d["criteria"],
        d["vulnerable"],
        d.get("version_start_including"),
        d.get("version_start_excluding"),
        d.get("version_end_including"),
        d.get("version_end_excluding"),
    )


def _decode_configuration(d: Json) -> CpeConfiguration:
    nodes = tuple(
        CpeNode(n["operator"], tuple(_decode_match(m) for m in n["matches"]), n["negate"])
        for n in d["nodes"]
    )
    return CpeConfiguration(nodes, d["operator"], d["negate"])


def _decode_provenance(d: Json) -> Provenance:
    fetched_at = datetime.fromisoformat(d["fetched_at"])
    return Provenance(
        _SOURCES[d["source"]], fetched_at, d["digest"], d.get("origin"), d.get("license")
    )


def _decode_severity(d: Json) -> Severity:
    return Severity(_SEVERITY_TYPES[d["type"]], d["vector"], d.get("base_score"), d.get("source"))


def _decode(d: Json) -> Advisory:
    prov = d.get("provenance")
    return Advisory(
        id=d["id"],
        source=_SOURCES[d["source"]],
        modified=datetime.fromisoformat(d["modified"]),
        aliases=tuple(d.get("aliases", ())),
        summary=d.get("summary"),
        details=d.get("details"),
        published=_dt(d.get("published")),
        withdrawn=_dt(d.get("withdrawn")),
        severities=tuple(_decode_severity(s) for s in d.get("severities", ())),
        affected=tuple(_decode_affected(p) for p in d.get("affected", ())),
        configurations=tuple(_decode_configuration(c) for c in d.get("configurations", ())),
        references=tuple(d.get("references", ())),
        exploit_references=tuple(d.get("exploit_references", ())),
        cwes=tuple(d.get("cwes", ())),
        status=d.get("status"),
        provenance=None if prov is None else _decode_provenance(prov),
    )


def decode_advisory(payload: bytes) -> Advisory:
    """Rebuild the domain :class:`Advisory` from a stored payload; raise :class:`StoreError`."""
    try:
        data = orjson.loads(payload)
        if data.get("v") != PAYLOAD_VERSION:
            raise StoreError(f"stored advisory payload has unknown version {data.get('v')!r}")
        return _decode(data)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StoreError(
            "a stored advisory payload cannot be decoded",
            hint="the store may be corrupt; reload the intelligence",
            details=(f"{type(exc).__name__}: {exc}",),
        ) from exc
