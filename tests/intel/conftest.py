"""Fixtures for the fetch tests: the replay server of recorded responses and a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from medwarden.intel.fetch import SourceEndpoints
from medwarden.intel.sources._http import HttpOptions, RetryPolicy
from medwarden.testing.replay import ReplayServer

RECORDED = Path(__file__).parents[1] / "fixtures" / "recorded"


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    """A running replay server loaded with tests/fixtures/recorded/manifest.json."""
    with ReplayServer.from_manifest(RECORDED / "manifest.json") as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """An httpx client with a short timeout, closed after the test."""
    with httpx.Client(timeout=10.0) as http:
        yield http


@pytest.fixture
def endpoints(replay: ReplayServer) -> SourceEndpoints:
    """Every feed URL pointed at the replay server, with the real paths."""
    return SourceEndpoints(
        nvd_cves=f"{replay.url}/rest/json/cves/2.0",
        osv_base=replay.url,
        kev=f"{replay.url}/sites/default/files/feeds/known_exploited_vulnerabilities.json",
        epss=f"{replay.url}/epss_scores-current.csv.gz",
    )


@pytest.fixture
def sleeps() -> list[float]:
    """The delays the code under test asked to sleep, instead of sleeping."""
    return []


@pytest.fixture
def options(sleeps: list[float]) -> HttpOptions:
    """HTTP options with three attempts and a recording, non-sleeping sleep."""
    return HttpOptions(retry=RetryPolicy(attempts=3, base_delay=1.0), sleep=sleeps.append)
