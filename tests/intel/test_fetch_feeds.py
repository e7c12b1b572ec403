"""OSV, KEV and EPSS syncing against recorded responses of the real feeds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from medwarden.core.clock import FixedClock
from medwarden.errors import InputTooLargeError, IntelParseError
from medwarden.intel.fetch import SourceEndpoints, sync_epss, sync_kev, sync_osv
from medwarden.intel.model import Advisory, EpssScore, KevEntry, Source
from medwarden.intel.sources._http import HttpOptions
from medwarden.intel.sources.osv_fetch import download_osv_zip, osv_url, parse_modified_ids
from medwarden.testing.replay import ReplayServer

CLOCK = FixedClock(datetime(2026, 9, 30, 8, 0, tzinfo=UTC))


def test_osv_full_sync_downloads_the_zip(
    client: httpx.Client, endpoints: SourceEndpoints, options: HttpOptions, replay: ReplayServer
) -> None:
    """A first OSV sync streams Go/all.zip and yields its 4,291 records in batches."""
    batches = list(sync_osv(client, "Go", endpoints=endpoints, clock=CLOCK, options=options))
    assert [r.path for r in replay.requests] == ["/Go/all.zip"]
    assert sum(len(b.records) for b in batches) == 4291
    assert [len(b.records) for b in batches[:-1]] == [1000] * 4
    assert all(b.cursor is None for b in batches[:-1])
    assert batches[-1].cursor == "0001-01-01T00:00:00+00:00"
    record = batches[0].records[0]
    assert isinstance(record, Advisory)
    assert record.provenance is not None
    assert record.provenance.fetched_at == CLOCK.now()
    assert record.provenance.origin == f"{replay.url}/Go/all.zip!data/osv/GO-2020-0001.json"


def test_osv_incremental_sync_fetches_only_newer_records(
    client: httpx.Client, endpoints: SourceEndpoints, options: HttpOptions, replay: ReplayServer
) -> None:
    """With a cursor, only ids modified after it are fetched, and the cursor moves to the newest."""
    since = datetime(2025, 1, 1, tzinfo=UTC)
    batches = list(sync_osv(client, "Go", since=since, endpoints=endpoints, options=options))
    assert [r.path for r in replay.requests] == ["/Go/modified_id.csv", "/Go/GO-2026-5761.json"]
    (batch,) = batches
    assert [r.id for r in batch.records] == ["GO-2026-5761"]  # type: ignore[union-attr]
    assert batch.cursor == "2026-08-21T20:38:00+00:00"


def test_osv_incremental_sync_with_nothing_new(
    client: httpx.Client, endpoints: SourceEndpoints, options: HttpOptions
) -> None:
    """When nothing changed, one empty batch confirms the cursor."""
    since = datetime(2026, 9, 1, tzinfo=UTC)
    (batch,) = sync_osv(client, "Go", since=since, endpoints=endpoints, options=options)
    assert batch.records == ()
    assert batch.cursor == "2026-08-21T20:38:00+00:00"


def test_osv_download_size_limit(
    client: httpx.Client, endpoints: SourceEndpoints, options: HttpOptions, tmp_path: Path
) -> None:
    """A download larger than max_bytes is refused."""
    with pytest.raises(InputTooLargeError):
        download_osv_zip(
            client, endpoints.osv_base, "Go", tmp_path / "all.zip", max_bytes=1000, options=options
        )


def test_osv_url_quotes_ecosystem() -> None:
    """Ecosystems with a release are quoted into one path segment."""
    assert osv_url("https://x/", "Debian:12", "all.zip") == "https://x/Debian%3A12/all.zip"


def test_modified_ids_parse_and_fail() -> None:
    """modified_id.csv lines parse to (time, id); a bad line fails with its number."""
    pairs = parse_modified_ids(b"2024-01-02T03:04:05Z,PyPI/GHSA-1\n\n")
    assert pairs == [(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "GHSA-1")]
    with pytest.raises(IntelParseError) as info:
        parse_modified_ids(b"2024-01-02T03:04:05Z,A\nnot a line\n")
    assert info.value.location.line == 2  # type: ignore[union-attr]


def test_kev_sync(client: httpx.Client, endpoints: SourceEndpoints, options: HttpOptions) -> None:
    """The KEV sync yields the 1,404 real entries; the cursor is the newest dateAdded."""
    (batch,) = sync_kev(client, endpoints=endpoints, options=options)
    assert batch.source is Source.KEV
    assert len(batch.records) == 1404
    assert all(isinstance(r, KevEntry) for r in batch.records)
    assert batch.cursor == "2025-08-25T00:00:00+00:00"


def test_epss_sync_of_gzip(
    client: httpx.Client, endpoints: SourceEndpoints, options: HttpOptions
) -> None:
    """The gzip EPSS file is fetched and parsed; the cursor is its score_date."""
    (batch,) = sync_epss(client, endpoints=endpoints, options=options)
    assert len(batch.records) == 22
    assert all(isinstance(r, EpssScore) for r in batch.records)
    assert batch.cursor == "2026-09-29T12:00:22+00:00"


def test_epss_retry_after_503(
    client: httpx.Client,
    endpoints: SourceEndpoints,
    options: HttpOptions,
    replay: ReplayServer,
    sleeps: list[float],
) -> None:
    """A 503 on the EPSS file is retried once."""
    replay.inject("GET", "/epss_scores-current.csv.gz", [503])
    (batch,) = sync_epss(client, endpoints=endpoints, options=options)
    assert len(batch.records) == 22
    assert sleeps == [1.0]


def test_default_endpoints_are_the_real_feeds() -> None:
    """The default endpoints are the documented public URLs."""
    defaults = SourceEndpoints()
    assert defaults.nvd_cves == "https://services.nvd.nist.gov/rest/json/cves/2.0"
    assert defaults.osv_base == "https://osv-vulnerabilities.storage.googleapis.com"
    assert defaults.kev.endswith("/feeds/known_exploited_vulnerabilities.json")
    assert defaults.epss == "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"
