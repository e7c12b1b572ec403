"""Live synchronisation of intelligence feeds: where they are, and what changed since a cursor.

Each ``sync_*`` function fetches through an injected :class:`httpx.Client`, parses
with the pure parsers of :mod:`medwarden.intel.sources` and yields
:class:`SyncBatch` values.  A batch's ``cursor`` is the position to remember once
the batch is stored (``None``: do not move the cursor yet), so an interrupted sync
resumes where it stopped.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import httpx

from medwarden.core.clock import Clock, SystemClock
from medwarden.intel.files import iter_intel_bytes, iter_osv_zip
from medwarden.intel.model import Advisory, IntelRecord, Source
from medwarden.intel.sources import parse_epss_csv, parse_kev_json
from medwarden.intel.sources._http import DEFAULT_HTTP, HttpOptions
from medwarden.intel.sources.base import make_provenance
from medwarden.intel.sources.feed_fetch import fetch_epss, fetch_kev
from medwarden.intel.sources.nvd import parse_nvd_document
from medwarden.intel.sources.nvd_fetch import fetch_nvd_pages, nvd_limiter
from medwarden.intel.sources.osv_fetch import (
    download_osv_zip,
    fetch_osv_modified_ids,
    fetch_osv_record,
    osv_url,
)

__all__ = [
    "SourceEndpoints",
    "SyncBatch",
    "sync_epss",
    "sync_kev",
    "sync_nvd",
    "sync_osv",
]


@dataclass(frozen=True, slots=True)
class SourceEndpoints:
    """The URLs of every feed, in one place; tests point them at a replay server."""

    nvd_cves: str = "https://services.nvd.nist.gov/rest/json/cves/2.0"
    osv_base: str = "https://osv-vulnerabilities.storage.googleapis.com"
    kev: str = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
    epss: str = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"


@dataclass(frozen=True, slots=True)
class SyncBatch:
    """Records fetched in one step, where they came from, and the cursor to store after them."""

    source: Source
    records: tuple[IntelRecord, ...]
    cursor: str | None
    origin: str


def sync_nvd(
    client: httpx.Client,
    *,
    since: datetime,
    until: datetime | None = None,
    api_key: str | None = None,
    endpoints: SourceEndpoints = SourceEndpoints(),
    clock: Clock | None = None,
    options: HttpOptions = DEFAULT_HTTP,
) -> Iterator[SyncBatch]:
    """Yield NVD CVEs modified since ``since``, page by page; the cursor is a window's end.

    Without a limiter in ``options``, NVD's published limit applies (5 or 50 per 30 s).
    """
    clock = clock or SystemClock()
    if options.limiter is None:
        limiter = nvd_limiter(has_api_key=api_key is not None, sleep=options.sleep)
        options = replace(options, limiter=limiter)
    end = until or clock.now()
    for page in fetch_nvd_pages(
        client, endpoints.nvd_cves, start=since, end=end, api_key=api_key, options=options
    ):
        provenance = make_provenance(
            Source.NVD, page.content, fetched_at=clock.now(), origin=page.url
        )
        records = tuple(parse_nvd_document(page.document, provenance=provenance))
        last = page.start_index + len(records) >= page.total_results
        cursor = page.window[1].isoformat() if last else None
        yield SyncBatch(Source.NVD, records, cursor, page.url)


def sync_osv(
    client: httpx.Client,
    ecosystem: str,
    *,
    since: datetime | None = None,
    endpoints: SourceEndpoints = SourceEndpoints(),
    clock: Clock | None = None,
    options: HttpOptions = DEFAULT_HTTP,
    batch_size: int = 1000,
) -> Iterator[SyncBatch]:
    """Yield an ecosystem's OSV records: all of ``all.zip``, or those modified after ``since``."""
    clock = clock or SystemClock()
    if since is None:
        yield from _osv_full(client, ecosystem, endpoints, clock, options, batch_size)
        return
    changes = fetch_osv_modified_ids(client, endpoints.osv_base, ecosystem, options=options)
    newer = [(stamp, vuln_id) for stamp, vuln_id in changes if stamp > since]
    cursor = max((stamp for stamp, _ in changes), default=since).isoformat()
    for position, (_, vuln_id) in enumerate(newer, start=1):
        data = fetch_osv_record(client, endpoints.osv_base, ecosystem, vuln_id, options=options)
        origin = osv_url(endpoints.osv_base, ecosystem, f"{vuln_id}.json")
        records = tuple(iter_intel_bytes(data, origin=origin, fetched_at=clock.now()))
        yield SyncBatch(Source.OSV, records, cursor if position == len(newer) else None, origin)
    if not newer:
        yield SyncBatch(Source.OSV, (), cursor, osv_url(endpoints.osv_base, ecosystem, ""))


def _osv_full(
    client: httpx.Client,
    ecosystem: str,
    endpoints: SourceEndpoints,
    clock: Clock,
    options: HttpOptions,
    batch_size: int,
) -> Iterator[SyncBatch]:
    url = osv_url(endpoints.osv_base, ecosystem, "all.zip")
    with tempfile.TemporaryDirectory(prefix="medwarden-osv-") as tmp:
        path = download_osv_zip(
            client, endpoints.osv_base, ecosystem, Path(tmp) / "all.zip", options=options
        )
        batch: list[IntelRecord] = []
        newest: datetime | None = None
        for record in iter_osv_zip(path, origin=url, fetched_at=clock.now()):
            batch.append(record)
            if isinstance(record, Advisory) and (newest is None or record.modified > newest):
                newest = record.modified
            if len(batch) >= batch_size:
                yield SyncBatch(Source.OSV, tuple(batch), None, url)
                batch = []
        cursor = newest.isoformat() if newest else None
        yield SyncBatch(Source.OSV, tuple(batch), cursor, url)


def sync_kev(
    client: httpx.Client,
    *,
    endpoints: SourceEndpoints = SourceEndpoints(),
    clock: Clock | None = None,
    options: HttpOptions = DEFAULT_HTTP,
) -> Iterator[SyncBatch]:
    """Yield the whole KEV catalog; the cursor is the latest ``dateAdded``."""
    data = fetch_kev(client, endpoints.kev, options=options)
    fetched_at = (clock or SystemClock()).now()
    records = tuple(parse_kev_json(data, origin=endpoints.kev, fetched_at=fetched_at))
    newest = max((r.date_added for r in records), default=None)
    yield SyncBatch(Source.KEV, records, newest.isoformat() if newest else None, endpoints.kev)


def sync_epss(
    client: httpx.Client,
    *,
    endpoints: SourceEndpoints = SourceEndpoints(),
    clock: Clock | None = None,
    options: HttpOptions = DEFAULT_HTTP,
) -> Iterator[SyncBatch]:
    """Yield today's EPSS scores; the cursor is the file's ``score_date``."""
    data = fetch_epss(client, endpoints.epss, options=options)
    fetched_at = (clock or SystemClock()).now()
    records = tuple(parse_epss_csv(data, origin=endpoints.epss, fetched_at=fetched_at))
    dates = {r.score_date for r in records if r.score_date is not None}
    cursor = max(dates).isoformat() if dates else None
    yield SyncBatch(Source.EPSS, records, cursor, endpoints.epss)
