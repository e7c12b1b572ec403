"""Fixtures: the real oref0 0.7.1 modules (installed with npm ci when missing) and runners."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from medwarden.telemetry.controllers.oref0 import Oref0Runner, install_oref0


@pytest.fixture(scope="session")
def oref0_dir() -> Path:
    """Where oref0 0.7.1 is installed: $MEDWARDEN_OREF0_DIR or the user cache (npm ci once).

    Skips only when Node.js is absent; a failing npm install is an error, not a skip.
    """
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: oref0 cannot run")
    return install_oref0()


@pytest.fixture(scope="session")
def oref0(oref0_dir: Path) -> Iterator[Oref0Runner]:
    """One shared oref0 runner for read-only tests."""
    with Oref0Runner(oref0_dir) as runner:
        yield runner


@pytest.fixture
def fresh_oref0(oref0_dir: Path) -> Iterator[Oref0Runner]:
    """A runner of its own, for tests that kill or time out its process."""
    with Oref0Runner(oref0_dir) as runner:
        yield runner
