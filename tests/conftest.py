"""Shared test configuration: fixture paths, the hypothesis profile, database URLs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

FIXTURES = Path(__file__).parent / "fixtures"

settings.register_profile(
    "medwarden",
    max_examples=int(os.environ.get("MEDWARDEN_HYPOTHESIS_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("medwarden")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The directory of copied corpus files (each sub-folder has a SOURCES.md)."""
    return FIXTURES


def postgres_url() -> str | None:
    """The PostgreSQL test database URL, or None when no server was started."""
    return os.environ.get("MEDWARDEN_TEST_PG_URL") or None
