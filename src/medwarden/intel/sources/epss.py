"""FIRST EPSS daily scores, CSV (plain or gzip) with a ``#model_version:...`` comment line.

Reference: https://www.first.org/epss/data_stats
"""

from __future__ import annotations

import gzip
import zlib
from datetime import datetime
from typing import Any

from medwarden.core.timestamps import parse_timestamp
from medwarden.errors import IntelParseError, Location
from medwarden.intel.model import EpssScore, Provenance, Source
from medwarden.intel.sources.base import make_provenance, with_provenance

__all__ = ["looks_like_epss", "parse_epss_csv", "parse_epss_csv_document"]

_HEADER = "cve,epss,percentile"
_GZIP_MAGIC = b"\x1f\x8b"


def looks_like_epss(head: bytes) -> bool:
    """Whether the first bytes of a (decompressed) file look like an EPSS CSV."""
    text = head.lstrip(b"\xef\xbb\xbf")
    return text.startswith((b"#model_version", _HEADER.encode()))


def parse_epss_csv(
    data: bytes, *, origin: str | None = None, fetched_at: datetime | None = None
) -> list[EpssScore]:
    """Parse an EPSS scores CSV; gzip-compressed input is decompressed first.

    With ``fetched_at``, every score carries provenance (digest of ``data`` as given)."""
    scores = _parse_bytes(data, origin)
    if fetched_at is None:
        return scores
    provenance = make_provenance(Source.EPSS, data, fetched_at=fetched_at, origin=origin)
    return with_provenance(scores, provenance)


def _parse_bytes(data: bytes, origin: str | None) -> list[EpssScore]:
    if data.startswith(_GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise IntelParseError(
                f"corrupt gzip stream: {exc}", location=Location(source=origin)
            ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntelParseError(
            f"EPSS CSV is not UTF-8 (byte {exc.start})", location=Location(source=origin)
        ) from None
    return _parse_text(text, origin)


def parse_epss_csv_document(document: Any, *, provenance: Provenance) -> list[EpssScore]:
    """Parse EPSS CSV bytes (the registry's entry point); every score carries ``provenance``."""
    return with_provenance(_parse_bytes(bytes(document), provenance.origin), provenance)


def _parse_text(text: str, origin: str | None) -> list[EpssScore]:
    lines = text.splitlines()
    model: str | None = None
    score_date: datetime | None = None
    first = 0
    if lines and lines[0].startswith("#"):
        model, score_date = _comment(lines[0], origin)
        first = 1
    if len(lines) <= first or lines[first].strip().lower() != _HEADER:
        raise IntelParseError(
            f"not an EPSS CSV: expected the header {_HEADER!r}",
            location=Location(source=origin, line=first + 1),
        )
    out: list[EpssScore] = []
    for number in range(first + 1, len(lines)):
        line = lines[number]
        if line:
            out.append(_row(line, model, score_date, origin, number + 1))
    return out


def _comment(line: str, origin: str | None) -> tuple[str | None, datetime | None]:
    fields = dict(part.partition(":")[::2] for part in line.lstrip("#").split(","))
    try:
        return fields.get("model_version") or None, parse_timestamp(fields.get("score_date"))
    except ValueError:
        raise IntelParseError(
            "bad score_date in the EPSS comment line", location=Location(source=origin, line=1)
        ) from None


def _row(
    line: str, model: str | None, score_date: datetime | None, origin: str | None, number: int
) -> EpssScore:
    parts = line.split(",")
    try:
        if len(parts) != 3 or not parts[0].startswith("CVE-"):
            raise ValueError("expected CVE id, score and percentile")
        score, percentile = float(parts[1]), float(parts[2])
        if not (0.0 <= score <= 1.0 and 0.0 <= percentile <= 1.0):
            raise ValueError("score and percentile must lie in [0, 1]")
    except ValueError as exc:
        raise IntelParseError(
            f"bad EPSS row: {exc}", location=Location(source=origin, line=number)
        ) from None
    return EpssScore(parts[0], score, percentile, score_date, model)
