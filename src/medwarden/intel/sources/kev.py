"""CISA Known Exploited Vulnerabilities catalog, JSON and CSV.

Reference: https://www.cisa.gov/known-exploited-vulnerabilities-catalog (schema
https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities_schema.json).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from medwarden.core.timestamps import parse_timestamp
from medwarden.errors import IntelParseError, Location
from medwarden.intel.model import KevEntry, Provenance, Source
from medwarden.intel.sources._fields import Ctx, load_json, opt_str, req_obj, req_str, req_time
from medwarden.intel.sources.base import make_provenance, with_provenance

__all__ = [
    "KEV_CSV_HEADER",
    "looks_like_kev",
    "parse_kev_csv",
    "parse_kev_csv_document",
    "parse_kev_json",
    "parse_kev_json_document",
]

KEV_CSV_HEADER = ("cveID", "vendorProject", "product", "vulnerabilityName", "dateAdded")
"""The columns a KEV CSV must have (others are optional)."""


def looks_like_kev(document: Any) -> bool:
    """Whether a decoded JSON value is the KEV catalog."""
    return type(document) is dict and "catalogVersion" in document


def parse_kev_json(
    data: bytes, *, origin: str | None = None, fetched_at: datetime | None = None
) -> list[KevEntry]:
    """Parse the KEV catalog in its JSON form (with ``fetched_at``, entries carry provenance)."""
    entries = _kev_json(load_json(data, Ctx(origin)), Ctx(origin))
    if fetched_at is None:
        return entries
    provenance = make_provenance(Source.KEV, data, fetched_at=fetched_at, origin=origin)
    return with_provenance(entries, provenance)


def parse_kev_json_document(document: Any, *, provenance: Provenance) -> list[KevEntry]:
    """Parse a decoded KEV JSON catalog; every entry carries ``provenance``."""
    return with_provenance(_kev_json(document, Ctx(provenance.origin)), provenance)


def parse_kev_csv(
    data: bytes, *, origin: str | None = None, fetched_at: datetime | None = None
) -> list[KevEntry]:
    """Parse the KEV catalog in its CSV form (with ``fetched_at``, entries carry provenance)."""
    entries = _kev_csv(data, origin)
    if fetched_at is None:
        return entries
    provenance = make_provenance(Source.KEV, data, fetched_at=fetched_at, origin=origin)
    return with_provenance(entries, provenance)


def parse_kev_csv_document(document: Any, *, provenance: Provenance) -> list[KevEntry]:
    """Parse KEV CSV bytes (the registry's entry point); every entry carries ``provenance``."""
    return with_provenance(_kev_csv(bytes(document), provenance.origin), provenance)


def _kev_json(document: Any, ctx: Ctx) -> list[KevEntry]:
    root = req_obj(document, ctx, "")
    items = root.get("vulnerabilities")
    if type(items) is not list:
        raise ctx.error("", "the KEV catalog needs a 'vulnerabilities' array", "vulnerabilities")
    out: list[KevEntry] = []
    for index, item in enumerate(items):
        where = f"/vulnerabilities/{index}"
        entry = req_obj(item, ctx, where)
        due = opt_str(entry, "dueDate", ctx, where)
        out.append(
            KevEntry(
                cve_id=_cve_id(req_str(entry, "cveID", ctx, where), ctx, where),
                vendor=req_str(entry, "vendorProject", ctx, where),
                product=req_str(entry, "product", ctx, where),
                name=req_str(entry, "vulnerabilityName", ctx, where),
                date_added=req_time(entry, "dateAdded", ctx, where),
                due_date=_time(due, ctx, where, "dueDate"),
                known_ransomware=opt_str(entry, "knownRansomwareCampaignUse", ctx, where),
                required_action=opt_str(entry, "requiredAction", ctx, where),
            )
        )
    return out


def _cve_id(value: str, ctx: Ctx, pointer: str) -> str:
    if not value.startswith("CVE-"):
        raise ctx.error(pointer, f"not a CVE id: {value[:40]!r}", "cveID")
    return value


def _time(value: str | None, ctx: Ctx, pointer: str, key: str) -> datetime | None:
    try:
        return parse_timestamp(value)
    except ValueError:
        raise ctx.error(pointer, f"not a date: {value!r}", key) from None


def _kev_csv(data: bytes, origin: str | None) -> list[KevEntry]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntelParseError(
            f"KEV CSV is not UTF-8 (byte {exc.start})", location=Location(source=origin)
        ) from None
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    missing = [c for c in KEV_CSV_HEADER if header is None or c not in header]
    if header is None or missing:
        raise IntelParseError(
            f"not a KEV CSV: missing columns {', '.join(missing)}",
            location=Location(source=origin, line=1),
        )
    col = {name: i for i, name in enumerate(header)}
    out: list[KevEntry] = []
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise IntelParseError(
                f"expected {len(header)} columns, found {len(row)}",
                location=Location(source=origin, line=line),
            )
        out.append(_kev_row(row, col, origin, line))
    return out


def _kev_row(row: list[str], col: dict[str, int], origin: str | None, line: int) -> KevEntry:
    def get(name: str) -> str | None:
        index = col.get(name)
        return row[index] or None if index is not None else None

    try:
        cve_id, added = row[col["cveID"]], parse_timestamp(row[col["dateAdded"]])
        if not cve_id.startswith("CVE-") or added is None:
            raise ValueError("cveID and dateAdded are required")
        return KevEntry(
            cve_id=cve_id,
            vendor=row[col["vendorProject"]],
            product=row[col["product"]],
            name=row[col["vulnerabilityName"]],
            date_added=added,
            due_date=parse_timestamp(get("dueDate")),
            known_ransomware=get("knownRansomwareCampaignUse"),
            required_action=get("requiredAction"),
        )
    except ValueError as exc:
        raise IntelParseError(
            f"bad KEV row: {exc}", location=Location(source=origin, line=line)
        ) from None
