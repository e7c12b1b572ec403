"""Exponential back-off with jitter for work that is retried later (deliveries, jobs).

After failed attempt number ``n`` (1-based) the nominal wait is
``min(cap, base * 2 ** (n - 1))``; the actual wait is drawn uniformly from
``[nominal * (1 - jitter), nominal]`` ("equal jitter" with ``jitter = 0.5``), so
many failures at the same moment spread out instead of retrying in lock-step, and
no wait ever exceeds ``cap``.  After ``max_attempts`` attempts there is no next one.
The random source is injected so that tests are deterministic.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from medwarden.errors import UsageError

__all__ = ["BackoffPolicy", "Random"]

Random = Callable[[], float]
"""A source of floats in ``[0, 1)``."""

_SYSTEM_RANDOM = secrets.SystemRandom()


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """When to try again after a failure: base, cap, jitter fraction and attempt limit."""

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=6)
    max_attempts: int = 8
    jitter: float = 0.5
    random: Random = field(default=_SYSTEM_RANDOM.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Refuse a policy that could never wait or never stop."""
        if self.base <= timedelta(0) or self.cap < self.base:
            raise UsageError("back-off needs 0 < base <= cap")
        if self.max_attempts < 1:
            raise UsageError("back-off needs at least one attempt")
        if not 0.0 <= self.jitter <= 1.0:
            raise UsageError("back-off jitter must be a fraction between 0 and 1")

    def nominal(self, attempt: int) -> timedelta:
        """The wait after failed attempt ``attempt`` (1-based) before jitter, capped."""
        if attempt < 1:
            raise UsageError(f"attempt numbers start at 1, not {attempt}")
        exponent = min(attempt - 1, 62)  # 2**62 base units exceed any cap long before
        seconds = min(self.cap.total_seconds(), self.base.total_seconds() * 2.0**exponent)
        return timedelta(seconds=seconds)

    def delay(self, attempt: int, *, at_least: timedelta | None = None) -> timedelta | None:
        """The wait after failed attempt ``attempt``, or None when no attempt is left.

        ``at_least`` (a server's ``Retry-After``) raises the wait, never beyond ``cap``."""
        if attempt >= self.max_attempts:
            return None
        return self.wait(attempt, at_least=at_least)

    def wait(self, attempt: int, *, at_least: timedelta | None = None) -> timedelta:
        """The jittered wait after failed attempt ``attempt``, ignoring ``max_attempts``."""
        nominal = self.nominal(attempt)
        draw = min(max(self.random(), 0.0), 1.0)
        wait = nominal * (1.0 - self.jitter * draw)
        if at_least is not None and at_least > wait:
            wait = min(at_least, self.cap)
        return wait
