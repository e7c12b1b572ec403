"""Fetch OSV ecosystem exports: ``{base}/{ecosystem}/all.zip`` and ``modified_id.csv``.

Reference: https://google.github.io/osv.dev/data/#data-dumps
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import httpx

from medwarden.core.timestamps import parse_timestamp
from medwarden.errors import IntelParseError, Location
from medwarden.intel.sources._http import DEFAULT_HTTP, HttpOptions, download, get

__all__ = [
    "download_osv_zip",
    "fetch_osv_modified_ids",
    "fetch_osv_record",
    "osv_url",
    "parse_modified_ids",
]


def osv_url(base_url: str, ecosystem: str, name: str) -> str:
    """URL of a file in an ecosystem's export (``all.zip``, ``modified_id.csv``, ``ID.json``)."""
    return f"{base_url.rstrip('/')}/{quote(ecosystem, safe='')}/{quote(name, safe='.')}"


def download_osv_zip(
    client: httpx.Client,
    base_url: str,
    ecosystem: str,
    dest: Path,
    *,
    max_bytes: int = 2 * 1024**3,
    options: HttpOptions = DEFAULT_HTTP,
) -> Path:
    """Stream an ecosystem's ``all.zip`` into ``dest`` and return ``dest``."""
    url = osv_url(base_url, ecosystem, "all.zip")
    return download(client, url, dest, max_bytes=max_bytes, options=options)


def fetch_osv_modified_ids(
    client: httpx.Client, base_url: str, ecosystem: str, *, options: HttpOptions = DEFAULT_HTTP
) -> list[tuple[datetime, str]]:
    """Fetch and parse an ecosystem's ``modified_id.csv`` (newest first)."""
    url = osv_url(base_url, ecosystem, "modified_id.csv")
    return parse_modified_ids(get(client, url, options=options).content, origin=url)


def fetch_osv_record(
    client: httpx.Client,
    base_url: str,
    ecosystem: str,
    vuln_id: str,
    *,
    options: HttpOptions = DEFAULT_HTTP,
) -> bytes:
    """Fetch one record of an ecosystem's export as raw JSON bytes."""
    return get(client, osv_url(base_url, ecosystem, f"{vuln_id}.json"), options=options).content


def parse_modified_ids(data: bytes, *, origin: str | None = None) -> list[tuple[datetime, str]]:
    """Parse ``modified_id.csv`` lines ``2024-01-02T03:04:05Z,GHSA-...`` into pairs."""
    out: list[tuple[datetime, str]] = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        stamp, _, vuln_id = line.partition(",")
        try:
            modified = parse_timestamp(stamp)
        except ValueError:
            modified = None
        if modified is None or not vuln_id.strip():
            raise IntelParseError(
                "expected 'timestamp,id'", location=Location(source=origin, line=number)
            )
        out.append((modified, vuln_id.strip().rsplit("/", 1)[-1]))
    return out
