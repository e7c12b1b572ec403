"""Level of support and end-of-support (REQUIREMENTS 3 and 4)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.errors import UsageError
from medwarden.portfolio.support import (
    ComponentSupport,
    SupportLevel,
    end_of_support_findings,
    normalise_level,
    support_from_component,
)
from medwarden.sbom.model import Component


def _component(*properties: tuple[str, str]) -> Component:
    return Component(ref="c1", name="zlib", version="1.2.13", properties=properties)


def test_requirement_4_fixture_date_within_horizon_is_reported() -> None:
    """With the clock at 2026-11-22, EoS 2026-12-31 and a 365-day horizon: a finding."""
    support = ComponentSupport(SupportLevel.ACTIVELY_MAINTAINED, date(2026, 12, 31))
    [found] = end_of_support_findings([("c1", support)], today=date(2026, 11, 22), horizon_days=365)
    assert found.component_ref == "c1"
    assert "within 365 days" in found.reason


@pytest.mark.parametrize(
    ("support", "device_end", "expected"),
    [
        (ComponentSupport(None, date(2026, 1, 1)), None, "passed"),
        (ComponentSupport(None, date(2029, 1, 1)), None, None),
        (ComponentSupport(None, date(2029, 1, 1)), date(2030, 6, 1), "before the device"),
        (ComponentSupport("abandoned", None, "upstream archived"), None, "abandoned"),
        (ComponentSupport("No longer maintained", None, "n/a"), None, "no_longer_maintained"),
    ],
)
def test_end_of_support_reasons(
    support: ComponentSupport, device_end: date | None, expected: str | None
) -> None:
    found = end_of_support_findings(
        [("c1", support)],
        today=date(2026, 11, 22),
        horizon_days=365,
        device_support_end=device_end,
    )
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1
        assert expected in found[0].reason


def test_a_support_record_needs_a_date_or_a_justification() -> None:
    """REQUIREMENTS 3: neither date nor justification fails."""
    with pytest.raises(UsageError, match="justification"):
        ComponentSupport("actively maintained", None, None)
    with pytest.raises(UsageError):
        ComponentSupport("actively maintained", None, "   ")
    assert ComponentSupport(None, None, "vendor gives no date").justification


@pytest.mark.parametrize(
    "name",
    ["levelOfSupport", "level_of_support", "medwarden:level-of-support", "fda:LevelOfSupport"],
)
def test_support_properties_in_any_spelling(name: str) -> None:
    support = support_from_component(
        _component((name, "Actively Maintained"), ("cdx:endOfSupport", "2027-06-30"))
    )
    assert support == ComponentSupport("actively_maintained", date(2027, 6, 30))


def test_spdx_valid_until_date_is_end_of_support() -> None:
    support = support_from_component(_component(("spdx:validUntilDate", "2027-01-01T00:00:00Z")))
    assert support is not None
    assert support.end_of_support == date(2027, 1, 1)


def test_no_support_properties_means_no_record() -> None:
    assert support_from_component(_component(("syft:package:type", "npm"))) is None


@pytest.mark.parametrize(
    "properties",
    [
        (("levelOfSupport", "actively maintained"),),  # neither date nor justification
        (("endOfSupport", "next year"),),  # not a date
    ],
)
def test_incomplete_or_malformed_support_is_refused(
    properties: tuple[tuple[str, str], ...],
) -> None:
    with pytest.raises(UsageError, match="c1"):
        support_from_component(_component(*properties))


@given(st.sampled_from(list(SupportLevel)), st.sampled_from([" ", "-", "_"]), st.booleans())
def test_fda_phrases_normalise_whatever_the_spelling(
    level: SupportLevel, separator: str, upper: bool
) -> None:
    text = level.value.replace("_", separator)
    assert normalise_level(text.upper() if upper else text) == level.value


@given(st.text(min_size=1).filter(lambda t: t.strip()))
def test_free_text_levels_are_kept(text: str) -> None:
    level = normalise_level(text)
    assert level in {lv.value for lv in SupportLevel} or level == text.strip()
