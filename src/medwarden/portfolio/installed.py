"""The installed base and variant analysis: which units run which release, where a
component is used (REQUIREMENTS 29 and 61), and the support data of fielded components."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

from medwarden.errors import InputError, Location
from medwarden.portfolio.model import LifecycleState
from medwarden.portfolio.support import ComponentSupport

__all__ = ["InstalledUnit", "SupportRecord", "WhereUsed", "read_installed_base"]

_COLUMNS = ("device_id", "product", "version")


@dataclass(frozen=True, slots=True)
class InstalledUnit:
    """One fielded unit: its id, the product and software version it runs, and where."""

    device_id: str
    product: str
    version: str
    site: str | None = None
    reported_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WhereUsed:
    """A release whose current SBOM holds a component, and how many units run it."""

    product: str
    release: str
    state: LifecycleState
    ref: str
    name: str
    version: str | None
    purl: str | None
    units: int


@dataclass(frozen=True, slots=True)
class SupportRecord:
    """A component's support record in the current SBOM of a release."""

    product: str
    device_support_end: date | None
    horizon_days: int
    release: str
    ref: str
    name: str
    version: str | None
    support: ComponentSupport


def _reported(text: str, source: str, line: int) -> datetime | None:
    if not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"reported_at {text!r} is not an ISO 8601 time", location=Location(source, line=line)
        ) from None
    if value.tzinfo is None:
        raise InputError(
            f"reported_at {text!r} has no time zone", location=Location(source, line=line)
        )
    return value


def read_installed_base(data: bytes, *, source: str = "installed base") -> list[InstalledUnit]:
    """Read a CSV file with the columns ``device_id,product,version[,site][,reported_at]``.

    Every line is checked before anything is returned; a bad line is an
    :class:`InputError` naming the line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source} is not UTF-8 text: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise InputError(
            f"{source} lacks the column(s) {', '.join(missing)}",
            hint="the header must name device_id, product and version (site, reported_at optional)",
        )
    units = []
    for row in reader:
        line = reader.line_num
        values = {k: (row.get(k) or "").strip() for k in (*_COLUMNS, "site", "reported_at")}
        empty = [c for c in _COLUMNS if not values[c]]
        if empty:
            raise InputError(
                f"line {line} has no {', '.join(empty)}", location=Location(source, line=line)
            )
        units.append(
            InstalledUnit(
                values["device_id"],
                values["product"],
                values["version"],
                values["site"] or None,
                _reported(values["reported_at"], source, line),
            )
        )
    return units
