"""HTTP plumbing shared by the fetchers: bounded retries with back-off, rate limiting.

Time is injected (``clock`` and ``sleep``) so tests never wait.  Errors never carry
request headers, so an API key sent as a header cannot leak into a message or log.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from medwarden.errors import InputTooLargeError, IntelFetchError, Location

__all__ = ["DEFAULT_HTTP", "HttpOptions", "RetryPolicy", "SlidingWindowLimiter", "download", "get"]

Sleep = Callable[[float], None]
MonotonicClock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry: exponential back-off, capped, bounded."""

    attempts: int = 5
    base_delay: float = 2.0
    max_delay: float = 60.0
    retry_statuses: frozenset[int] = frozenset({403, 429, 500, 502, 503, 504})

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        wait: float = self.base_delay * (2.0**attempt)
        if retry_after is not None and retry_after.strip().isdigit():
            wait = max(wait, float(int(retry_after.strip())))
        return min(wait, self.max_delay)


class SlidingWindowLimiter:
    """At most ``max_calls`` calls in any ``period`` seconds (a sliding window)."""

    def __init__(
        self,
        max_calls: int,
        period: float,
        *,
        clock: MonotonicClock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if max_calls < 1 or period <= 0:
            raise ValueError("max_calls must be >= 1 and period > 0")
        self.max_calls = max_calls
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._calls: deque[float] = deque()

    def wait_time(self) -> float:
        """Seconds the next call would have to wait now (0 when it may go at once)."""
        now = self._clock()
        while self._calls and self._calls[0] <= now - self.period:
            self._calls.popleft()
        if len(self._calls) < self.max_calls:
            return 0.0
        return self._calls[0] + self.period - now

    def acquire(self) -> float:
        """Wait until a call is allowed, record it, and return the seconds waited.

        Terminates whatever ``sleep`` does: after waiting, the oldest call is taken
        to have left the window.
        """
        wait = self.wait_time()
        now = self._clock()
        if wait > 0:
            self._sleep(wait)
            now = max(self._clock(), self._calls.popleft() + self.period)
        self._calls.append(now)
        return wait


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """Retry policy, time source and optional rate limiter of a fetcher."""

    retry: RetryPolicy = RetryPolicy()
    sleep: Sleep = field(default=time.sleep, compare=False)
    limiter: SlidingWindowLimiter | None = field(default=None, compare=False)


DEFAULT_HTTP = HttpOptions()
"""Default options: :class:`RetryPolicy` defaults, real sleep, no rate limiter."""


def get(
    client: httpx.Client,
    url: str,
    *,
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
    options: HttpOptions = DEFAULT_HTTP,
) -> httpx.Response:
    """GET ``url`` with retries; return a 2xx response or raise IntelFetchError."""
    return _with_retries(lambda: client.get(url, params=params, headers=headers), url, options)


def download(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    options: HttpOptions = DEFAULT_HTTP,
) -> Path:
    """Stream ``url`` into ``dest`` (refusing more than ``max_bytes``), with retries."""

    def attempt() -> httpx.Response:
        with client.stream("GET", url) as response:
            if response.is_success:
                _save(response, dest, max_bytes, url)
            return response

    _with_retries(attempt, url, options)
    return dest


def _save(response: httpx.Response, dest: Path, max_bytes: int, url: str) -> None:
    written = 0
    with dest.open("wb") as out:
        for chunk in response.iter_bytes(1 << 20):
            written += len(chunk)
            if written > max_bytes:
                raise InputTooLargeError(
                    f"download exceeds {max_bytes} bytes", location=Location(source=url)
                )
            out.write(chunk)


def _with_retries(
    attempt: Callable[[], httpx.Response],
    url: str,
    options: HttpOptions,
) -> httpx.Response:
    policy = options.retry
    problem = "no attempt was made"
    for number in range(policy.attempts):
        if options.limiter is not None:
            options.limiter.acquire()
        retry_after: str | None = None
        try:
            response = attempt()
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if response.is_success:
                return response
            problem = f"HTTP {response.status_code}"
            if response.status_code not in policy.retry_statuses:
                break
            retry_after = response.headers.get("retry-after")
        if number + 1 < policy.attempts:
            options.sleep(policy.delay(number, retry_after))
    raise IntelFetchError(
        f"could not fetch {url}: {problem}",
        location=Location(source=url),
        hint="the feed may be down or rate-limiting; try again later",
    )
