"""The seam every intelligence source plugs into: formats, the parser Protocol, provenance.

A source parser turns one decoded document (a JSON value, or CSV bytes) into
normalised records of :mod:`medwarden.intel.model`.  Parsers are pure: they read
nothing but their arguments, and malformed input raises
:class:`~medwarden.errors.IntelParseError` naming the file and the JSON pointer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from medwarden.core.clock import ensure_utc
from medwarden.core.digests import sha256_hex
from medwarden.intel.model import EpssScore, IntelRecord, KevEntry, Provenance, Source

__all__ = ["DocumentParser", "IntelFormat", "make_provenance", "with_provenance"]


class IntelFormat(StrEnum):
    """Document formats medwarden reads; the value names the format in messages."""

    NVD = "nvd-cve-api-2.0"
    CVE5 = "cve-json-5"
    OSV = "osv"
    KEV_JSON = "kev-json"
    KEV_CSV = "kev-csv"
    EPSS_CSV = "epss-csv"
    CSAF = "csaf-2.0"


class DocumentParser(Protocol):
    """Parse one decoded document (JSON value, or raw bytes for CSV formats)."""

    def __call__(self, document: Any, *, provenance: Provenance) -> Sequence[IntelRecord]:
        """Return the records of ``document``; raise IntelParseError when it is malformed."""
        ...


_Keyed = TypeVar("_Keyed", KevEntry, EpssScore)


def with_provenance(records: list[_Keyed], provenance: Provenance) -> list[_Keyed]:
    """``records`` (KEV entries or EPSS scores) each carrying ``provenance``."""
    return [replace(record, provenance=provenance) for record in records]


def make_provenance(
    source: Source, data: bytes, *, fetched_at: datetime, origin: str | None
) -> Provenance:
    """Build the provenance of records read from ``data`` (digest = SHA-256 of the bytes)."""
    return Provenance(
        source=source, fetched_at=ensure_utc(fetched_at), digest=sha256_hex(data), origin=origin
    )
