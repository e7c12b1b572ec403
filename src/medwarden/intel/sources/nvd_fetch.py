"""Fetch NVD CVE API 2.0 pages: 120-day ``lastMod`` windows, paging, API key, rate limits.

Reference: https://nvd.nist.gov/developers/vulnerabilities and
https://nvd.nist.gov/developers/start-here (5 requests per rolling 30 s without a key,
50 with one).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from medwarden.core.clock import ensure_utc
from medwarden.errors import IntelFetchError, Location
from medwarden.intel.sources._fields import Ctx, load_json
from medwarden.intel.sources._http import DEFAULT_HTTP, HttpOptions, SlidingWindowLimiter, get

__all__ = [
    "NVD_MAX_WINDOW",
    "NVD_PAGE_SIZE",
    "NvdPage",
    "fetch_nvd_pages",
    "format_nvd_time",
    "nvd_limiter",
    "nvd_windows",
]

NVD_MAX_WINDOW = timedelta(days=120)
"""The longest ``lastModStartDate``..``lastModEndDate`` range the API accepts."""

NVD_PAGE_SIZE = 2000
"""The largest ``resultsPerPage`` the API accepts."""


@dataclass(frozen=True, slots=True)
class NvdPage:
    """One response page: its URL (without secrets), raw bytes and decoded document."""

    url: str
    content: bytes
    document: dict[str, Any]
    start_index: int
    total_results: int
    window: tuple[datetime, datetime]


def nvd_limiter(
    *, has_api_key: bool, clock: Any = time.monotonic, sleep: Any = time.sleep
) -> SlidingWindowLimiter:
    """The NVD's published limit: 50 requests / 30 s with an API key, 5 / 30 s without."""
    return SlidingWindowLimiter(50 if has_api_key else 5, 30.0, clock=clock, sleep=sleep)


def nvd_windows(
    start: datetime, end: datetime, *, max_window: timedelta = NVD_MAX_WINDOW
) -> list[tuple[datetime, datetime]]:
    """Split ``start``..``end`` into consecutive windows no longer than ``max_window``."""
    start, end = ensure_utc(start), ensure_utc(end)
    if end < start:
        raise ValueError("the end of the window is before its start")
    windows: list[tuple[datetime, datetime]] = []
    cursor = start
    while True:
        upper = min(cursor + max_window, end)
        windows.append((cursor, upper))
        if upper >= end:
            return windows
        cursor = upper


def format_nvd_time(value: datetime) -> str:
    """Format a time the way the NVD API expects: ``2024-01-02T03:04:05.000+00:00``."""
    utc = ensure_utc(value)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+00:00"


def fetch_nvd_pages(
    client: httpx.Client,
    base_url: str,
    *,
    start: datetime,
    end: datetime,
    api_key: str | None = None,
    page_size: int = NVD_PAGE_SIZE,
    options: HttpOptions = DEFAULT_HTTP,
) -> Iterator[NvdPage]:
    """Yield every page of CVEs modified between ``start`` and ``end``, window by window."""
    headers = {"apiKey": api_key} if api_key else None
    for window in nvd_windows(start, end):
        yield from _window_pages(client, base_url, window, headers, page_size, options)


def _window_pages(
    client: httpx.Client,
    base_url: str,
    window: tuple[datetime, datetime],
    headers: dict[str, str] | None,
    page_size: int,
    options: HttpOptions,
) -> Iterator[NvdPage]:
    index = 0
    while True:
        params: dict[str, str | int] = {
            "lastModStartDate": format_nvd_time(window[0]),
            "lastModEndDate": format_nvd_time(window[1]),
            "startIndex": index,
            "resultsPerPage": page_size,
        }
        response = get(client, base_url, params=params, headers=headers, options=options)
        url = str(response.request.url)
        document = load_json(response.content, Ctx(url))
        total, count = _page_counts(document, url)
        yield NvdPage(url, response.content, document, index, total, window)
        index += count
        if count == 0 or index >= total:
            return


def _page_counts(document: Any, url: str) -> tuple[int, int]:
    if type(document) is not dict or type(document.get("vulnerabilities")) is not list:
        raise IntelFetchError(
            "the NVD answered with something that is not a CVE API page",
            location=Location(source=url),
        )
    total = document.get("totalResults")
    if type(total) is not int or total < 0:
        raise IntelFetchError("the NVD page has no totalResults", location=Location(source=url))
    return total, len(document["vulnerabilities"])
