"""Parsers of vulnerability intelligence sources, and the registry that picks one.

``PARSERS`` maps each :class:`IntelFormat` to its document parser; ``sniff_json``
and ``sniff_text`` decide the format from content, not from file names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from medwarden.intel.sources.base import DocumentParser, IntelFormat, make_provenance
from medwarden.intel.sources.csaf import looks_like_csaf, parse_csaf, parse_csaf_document
from medwarden.intel.sources.cve5 import looks_like_cve5, parse_cve5, parse_cve5_document
from medwarden.intel.sources.epss import looks_like_epss, parse_epss_csv, parse_epss_csv_document
from medwarden.intel.sources.kev import (
    KEV_CSV_HEADER,
    looks_like_kev,
    parse_kev_csv,
    parse_kev_csv_document,
    parse_kev_json,
    parse_kev_json_document,
)
from medwarden.intel.sources.nvd import looks_like_nvd, parse_nvd, parse_nvd_document
from medwarden.intel.sources.osv import looks_like_osv, parse_osv, parse_osv_document

__all__ = [
    "PARSERS",
    "DocumentParser",
    "IntelFormat",
    "make_provenance",
    "parse_csaf",
    "parse_cve5",
    "parse_epss_csv",
    "parse_kev_csv",
    "parse_kev_json",
    "parse_nvd",
    "parse_osv",
    "sniff_json",
    "sniff_text",
]


def _registry(
    entries: Iterable[tuple[IntelFormat, DocumentParser]],
) -> Mapping[IntelFormat, DocumentParser]:
    table: dict[IntelFormat, DocumentParser] = {}
    for key, parser in entries:
        if key in table:
            raise ValueError(f"duplicate parser for {key}")
        table[key] = parser
    return MappingProxyType(table)


PARSERS: Mapping[IntelFormat, DocumentParser] = _registry(
    [
        (IntelFormat.NVD, parse_nvd_document),
        (IntelFormat.CVE5, parse_cve5_document),
        (IntelFormat.OSV, parse_osv_document),
        (IntelFormat.KEV_JSON, parse_kev_json_document),
        (IntelFormat.KEV_CSV, parse_kev_csv_document),
        (IntelFormat.EPSS_CSV, parse_epss_csv_document),
        (IntelFormat.CSAF, parse_csaf_document),
    ]
)
"""Document parser per format; JSON formats take the decoded value, CSV formats bytes."""


def sniff_json(document: Any) -> IntelFormat | None:
    """Return the format of a decoded JSON document, or ``None`` when it is none of ours."""
    if looks_like_csaf(document):
        return IntelFormat.CSAF
    if looks_like_cve5(document):
        return IntelFormat.CVE5
    if looks_like_kev(document):
        return IntelFormat.KEV_JSON
    if looks_like_nvd(document):
        return IntelFormat.NVD
    if looks_like_osv(document):
        return IntelFormat.OSV
    return None


def sniff_text(head: bytes) -> IntelFormat | None:
    """Return the CSV format whose header ``head`` (the first bytes) starts with, if any."""
    if looks_like_epss(head):
        return IntelFormat.EPSS_CSV
    first_line = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace")
    if all(column in first_line.split(",") for column in KEV_CSV_HEADER):
        return IntelFormat.KEV_CSV
    return None
