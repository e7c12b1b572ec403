"""NVD fetching against recorded pages: paging, windows, API key, retries, rate limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from medwarden.errors import IntelFetchError
from medwarden.intel.fetch import SourceEndpoints, SyncBatch, sync_nvd
from medwarden.intel.model import Advisory, Source
from medwarden.intel.sources._http import HttpOptions, RetryPolicy, SlidingWindowLimiter
from medwarden.intel.sources.nvd_fetch import format_nvd_time, nvd_limiter, nvd_windows
from medwarden.testing.replay import ReplayServer

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2026, 3, 1, tzinfo=UTC)
NVD_PATH = "/rest/json/cves/2.0"


def _sync(
    client: httpx.Client, endpoints: SourceEndpoints, options: HttpOptions, **kw: object
) -> list[SyncBatch]:
    args: dict[str, object] = {"since": SINCE, "until": UNTIL, **kw}
    return list(sync_nvd(client, endpoints=endpoints, options=options, **args))  # type: ignore[arg-type]


def test_paging_across_two_pages(
    client: httpx.Client, endpoints: SourceEndpoints, options: HttpOptions, replay: ReplayServer
) -> None:
    """Two recorded pages (20 + 12) are fetched in order and the cursor moves only at the end."""
    batches = _sync(client, endpoints, options)
    assert [len(b.records) for b in batches] == [20, 12]
    assert [b.cursor for b in batches] == [None, UNTIL.isoformat()]
    assert all(
        isinstance(r, Advisory) and r.source is Source.NVD for b in batches for r in b.records
    )
    assert [r.query["startIndex"] for r in replay.requests] == ["0", "20"]
    first = replay.requests[0].query
    assert first["resultsPerPage"] == "2000"
    assert first["lastModStartDate"] == "2026-01-01T00:00:00.000+00:00"
    assert first["lastModEndDate"] == "2026-03-01T00:00:00.000+00:00"


def test_long_range_is_split_into_120_day_windows(
    client: httpx.Client, endpoints: SourceEndpoints, options: HttpOptions, replay: ReplayServer
) -> None:
    """A 273-day range becomes three windows of at most 120 days, each paged from 0."""
    since, until = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 10, 1, tzinfo=UTC)
    batches = _sync(client, endpoints, options, since=since, until=until)
    assert len(batches) == 6
    starts = [r.query["lastModStartDate"] for r in replay.requests if r.query["startIndex"] == "0"]
    ends = [r.query["lastModEndDate"] for r in replay.requests if r.query["startIndex"] == "0"]
    assert starts[0] == format_nvd_time(since)
    assert ends[-1] == format_nvd_time(until)
    assert starts[1:] == ends[:-1]
    assert [b.cursor for b in batches if b.cursor] == [e.replace(".000", "") for e in ends]


def test_default_rate_limit_applies(
    client: httpx.Client, endpoints: SourceEndpoints, options: HttpOptions, sleeps: list[float]
) -> None:
    """Without a limiter, the sixth request within 30 s waits (NVD's 5 per 30 s, no key)."""
    since, until = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 10, 1, tzinfo=UTC)
    _sync(client, endpoints, options, since=since, until=until)
    assert len(sleeps) == 1
    assert 25.0 < sleeps[0] <= 30.0


def test_windows_are_at_most_120_days() -> None:
    """nvd_windows covers the range exactly with windows no longer than 120 days."""
    start = datetime(2020, 1, 1, tzinfo=UTC)
    windows = nvd_windows(start, start + timedelta(days=365))
    assert windows[0][0] == start
    assert windows[-1][1] == start + timedelta(days=365)
    assert all(b - a <= timedelta(days=120) for a, b in windows)
    assert all(windows[i][1] == windows[i + 1][0] for i in range(len(windows) - 1))
    assert nvd_windows(start, start) == [(start, start)]
    with pytest.raises(ValueError, match="before"):
        nvd_windows(start, start - timedelta(days=1))


def test_api_key_is_sent_as_header_only(
    client: httpx.Client, endpoints: SourceEndpoints, options: HttpOptions, replay: ReplayServer
) -> None:
    """The API key travels in the apiKey header, never in the query string."""
    _sync(client, endpoints, options, api_key="s3cret-key")
    assert all(r.headers.get("apikey") == "s3cret-key" for r in replay.requests)
    assert all("s3cret-key" not in str(r.query) for r in replay.requests)


def test_retry_on_429_then_success(
    client: httpx.Client,
    endpoints: SourceEndpoints,
    options: HttpOptions,
    replay: ReplayServer,
    sleeps: list[float],
) -> None:
    """A 429 on the first page is retried after the back-off (honouring Retry-After)."""
    replay.inject("GET", NVD_PATH, [429], query={"startIndex": "0"}, headers={"Retry-After": "7"})
    batches = _sync(client, endpoints, options)
    assert sum(len(b.records) for b in batches) == 32
    assert sleeps == [7.0]
    assert len(replay.requests) == 3


def test_exponential_backoff_on_503(
    client: httpx.Client,
    endpoints: SourceEndpoints,
    options: HttpOptions,
    replay: ReplayServer,
    sleeps: list[float],
) -> None:
    """Two 503s in a row are retried after 1 s then 2 s."""
    replay.inject("GET", NVD_PATH, [503, 503], query={"startIndex": "20"})
    batches = _sync(client, endpoints, options)
    assert sum(len(b.records) for b in batches) == 32
    assert sleeps == [1.0, 2.0]


def test_give_up_after_last_retry(
    client: httpx.Client,
    endpoints: SourceEndpoints,
    options: HttpOptions,
    replay: ReplayServer,
) -> None:
    """Persistent 503s end in IntelFetchError after exactly the allowed attempts."""
    replay.inject("GET", NVD_PATH, [503] * 10)
    with pytest.raises(IntelFetchError) as info:
        _sync(client, endpoints, options, api_key="s3cret-key")
    assert len(replay.requests) == 3
    assert "503" in info.value.message
    assert "s3cret-key" not in info.value.diagnostics()


def test_client_error_is_not_retried(
    client: httpx.Client, options: HttpOptions, replay: ReplayServer
) -> None:
    """A 404 is not worth retrying: one request, then IntelFetchError."""
    endpoints = SourceEndpoints(nvd_cves=f"{replay.url}/not/recorded")
    with pytest.raises(IntelFetchError):
        _sync(client, endpoints, options)
    assert len(replay.requests) == 1


def test_transport_errors_are_retried_then_fail(client: httpx.Client, sleeps: list[float]) -> None:
    """Connection refused is retried a bounded number of times, then IntelFetchError."""
    with ReplayServer() as server:
        url = server.url
    options = HttpOptions(retry=RetryPolicy(attempts=2, base_delay=0.5), sleep=sleeps.append)
    with pytest.raises(IntelFetchError) as info:
        _sync(client, SourceEndpoints(nvd_cves=url + NVD_PATH), options)
    assert "ConnectError" in info.value.message
    assert sleeps == [0.5]


def test_non_page_answer_is_a_fetch_error(
    client: httpx.Client, options: HttpOptions, replay: ReplayServer
) -> None:
    """An answer that is JSON but no CVE API page is refused."""
    from medwarden.testing.replay import Response

    replay.add("GET", "/odd", Response(body=b'{"message": "maintenance"}'))
    with pytest.raises(IntelFetchError):
        _sync(client, SourceEndpoints(nvd_cves=f"{replay.url}/odd"), options)


class FakeTime:
    """A monotonic clock that only moves when slept on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        """Return the current fake time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Advance the fake time."""
        self.slept.append(seconds)
        self.now += seconds


def test_rate_limiter_without_key_allows_5_per_30s() -> None:
    """The sixth call within 30 s waits until the first call leaves the window."""
    fake = FakeTime()
    limiter = nvd_limiter(has_api_key=False, clock=fake.clock, sleep=fake.sleep)
    for _ in range(5):
        assert limiter.acquire() == 0.0
        fake.now += 1.0
    assert limiter.acquire() == pytest.approx(25.0)
    assert fake.now == pytest.approx(1030.0)


def test_rate_limiter_with_key_allows_50_per_30s() -> None:
    """With an API key, 50 calls go at once and the 51st waits the full window."""
    fake = FakeTime()
    limiter = nvd_limiter(has_api_key=True, clock=fake.clock, sleep=fake.sleep)
    assert sum(limiter.acquire() for _ in range(50)) == 0.0
    assert limiter.wait_time() == pytest.approx(30.0)
    assert limiter.acquire() == pytest.approx(30.0)


def test_rate_limiter_sliding_window_frees_slots_gradually() -> None:
    """Calls leave the window one by one, so waits are per oldest call, not per block."""
    fake = FakeTime()
    limiter = SlidingWindowLimiter(2, 10.0, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire()
    fake.now += 4.0
    limiter.acquire()
    assert limiter.acquire() == pytest.approx(6.0)
    assert limiter.acquire() == pytest.approx(4.0)
    with pytest.raises(ValueError, match="max_calls"):
        SlidingWindowLimiter(0, 1.0)


def test_limiter_is_consulted_before_each_request(
    client: httpx.Client, endpoints: SourceEndpoints, sleeps: list[float]
) -> None:
    """With one call per 30 s allowed, the second page waits 30 s on the fake clock."""
    fake = FakeTime()
    limiter = SlidingWindowLimiter(1, 30.0, clock=fake.clock, sleep=fake.sleep)
    options = HttpOptions(retry=RetryPolicy(attempts=1), sleep=sleeps.append, limiter=limiter)
    _sync(client, endpoints, options)
    assert fake.slept == [30.0]
