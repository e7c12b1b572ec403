"""The recorded oref0 scenarios of tests/fixtures/oref0 (see SOURCES.md there)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OREF0_FIXTURES = Path(__file__).parents[2] / "fixtures" / "oref0"
SCENARIOS = ("low_falling", "high_rising", "high_iob_over_max", "smb_high", "in_range_running_temp")


def load_scenario(name: str) -> dict[str, Any]:
    """A recorded oref0 scenario: ``inputs`` and oref0's own ``cli_output``."""
    data: dict[str, Any] = json.loads((OREF0_FIXTURES / f"{name}.json").read_text())
    return data
