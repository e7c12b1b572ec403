"""The retry schedule: exponential, capped, jittered within bounds, and finite."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.core.backoff import BackoffPolicy
from medwarden.errors import UsageError
from medwarden.services.notifications import DEFAULT_BACKOFF

draws = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
bases = st.integers(min_value=1, max_value=600).map(lambda s: timedelta(seconds=s))


@given(
    base=bases,
    cap_factor=st.integers(min_value=1, max_value=10_000),
    max_attempts=st.integers(min_value=1, max_value=20),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    attempt=st.integers(min_value=1, max_value=40),
    draw=draws,
)
def test_every_wait_lies_within_its_bounds(
    base: timedelta,
    cap_factor: int,
    max_attempts: int,
    jitter: float,
    attempt: int,
    draw: float,
) -> None:
    """A wait is at most min(cap, base * 2^(n-1)) and at least (1 - jitter) times that."""
    cap = base * cap_factor
    policy = BackoffPolicy(base, cap, max_attempts, jitter, random=lambda: draw)
    wait = policy.delay(attempt)
    if attempt >= max_attempts:
        assert wait is None
        return
    nominal = min(cap, base * 2 ** (attempt - 1))
    assert wait is not None
    assert nominal * (1 - jitter) - timedelta(microseconds=1) <= wait <= nominal
    assert wait <= cap
    assert wait >= timedelta(0)


@given(attempt=st.integers(min_value=1, max_value=6), draw=draws)
def test_nominal_waits_double_until_the_cap(attempt: int, draw: float) -> None:
    """Without the cap each nominal wait is twice the previous one."""
    policy = BackoffPolicy(random=lambda: draw)
    assert policy.nominal(attempt + 1) == min(policy.cap, 2 * policy.nominal(attempt))


@given(retry_after=st.integers(min_value=0, max_value=100_000), draw=draws)
def test_retry_after_raises_the_wait_but_never_beyond_the_cap(
    retry_after: int, draw: float
) -> None:
    """A server's Retry-After is honoured up to the cap."""
    policy = BackoffPolicy(random=lambda: draw)
    wait = policy.delay(1, at_least=timedelta(seconds=retry_after))
    assert wait is not None
    assert wait >= min(timedelta(seconds=retry_after), policy.cap)
    assert wait <= max(policy.cap, policy.nominal(1))


def test_the_default_delivery_schedule() -> None:
    """Base 30 s, cap 6 h, 8 attempts: the 8th failure is final; jitter halves at most."""
    policy = DEFAULT_BACKOFF
    assert (policy.base, policy.cap, policy.max_attempts) == (
        timedelta(seconds=30),
        timedelta(hours=6),
        8,
    )
    highest = BackoffPolicy(random=lambda: 0.0)
    lowest = BackoffPolicy(random=lambda: 0.999999)
    expected = [30, 60, 120, 240, 480, 960, 1920]
    assert [highest.delay(n) for n in range(1, 8)] == [timedelta(seconds=s) for s in expected]
    for n, seconds in enumerate(expected, start=1):
        wait = lowest.delay(n)
        assert wait is not None
        assert timedelta(seconds=seconds / 2) <= wait < timedelta(seconds=seconds)
    assert highest.delay(8) is None
    assert BackoffPolicy(max_attempts=30).nominal(20) == timedelta(hours=6)
    assert BackoffPolicy().nominal(10_000) == timedelta(hours=6)


@pytest.mark.parametrize(
    "options",
    [
        {"base": timedelta(0)},
        {"base": timedelta(hours=7)},
        {"max_attempts": 0},
        {"jitter": 1.5},
    ],
)
def test_unusable_policies_are_refused(options: dict[str, object]) -> None:
    """A policy that could never wait, never stop, or jitter beyond the wait is refused."""
    with pytest.raises(UsageError):
        BackoffPolicy(**options)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        BackoffPolicy().nominal(0)
