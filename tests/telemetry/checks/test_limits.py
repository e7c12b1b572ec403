"""DeviceLimits: documented defaults, per-model overrides, refusal of bad settings."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta
from pathlib import Path

import pytest

from medwarden.errors import InputError
from medwarden.telemetry.checks import DeviceLimits


def test_defaults_for_an_insulin_pump_with_cgm() -> None:
    limits = DeviceLimits()
    assert (limits.glucose_min_mg_dl, limits.glucose_max_mg_dl) == (40.0, 400.0)
    assert limits.max_rate_mg_dl_min == 4.0
    assert limits.flat_line_readings == 6
    assert limits.stale_after_min == 15.0
    assert limits.confirmation_latency_min == 10.0
    assert (limits.insulin_short_window_min, limits.insulin_long_window_min) == (120.0, 1440.0)
    assert limits.minutes("stale_after_min") == timedelta(minutes=15)


def test_every_limit_is_documented() -> None:
    text = (Path(__file__).parents[3] / "docs" / "checks.md").read_text(encoding="utf-8")
    missing = [spec.name for spec in fields(DeviceLimits) if f"`{spec.name}`" not in text]
    assert missing == []


def test_from_mapping_overrides_only_the_given_keys() -> None:
    limits = DeviceLimits.from_mapping({"max_bolus_u": 25, "flat_line_readings": 8})
    assert (limits.max_bolus_u, limits.flat_line_readings) == (25, 8)
    assert limits.max_temp_basal_u_h == DeviceLimits().max_temp_basal_u_h
    assert DeviceLimits.from_mapping({}) == DeviceLimits()


def test_unknown_keys_are_named() -> None:
    with pytest.raises(InputError, match="'max_bolus'") as caught:
        DeviceLimits.from_mapping({"max_bolus": 5, "zeta": 1})
    assert caught.value.details == ("unknown: max_bolus", "unknown: zeta")
    assert caught.value.location is not None
    assert caught.value.location.pointer == "/max_bolus"


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("max_bolus_u", "10", "must be a number, not str"),
        ("max_bolus_u", True, "must be a number, not bool"),
        ("max_bolus_u", None, "must be a number, not NoneType"),
        ("max_bolus_u", float("nan"), "must be finite"),
        ("max_bolus_u", 0, "must be > 0"),
        ("max_bolus_u", -1.0, "must be > 0"),
        ("flat_line_readings", 6.0, "must be an integer, not float"),
        ("flat_line_readings", False, "must be an integer, not bool"),
        ("chain_gap_tolerance", -1, "must be >= 0"),
    ],
)
def test_wrong_types_and_values_name_the_key(key: str, value: object, problem: str) -> None:
    with pytest.raises(InputError, match=f"'{key}' {problem}") as caught:
        DeviceLimits.from_mapping({key: value})
    assert caught.value.location is not None
    assert caught.value.location.pointer == f"/{key}"


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"glucose_min_mg_dl": 400}, "glucose_min_mg_dl"),
        ({"flat_line_readings": 1}, "flat_line_readings"),
        ({"noise_window_readings": 2}, "noise_window_readings"),
        ({"noise_min_alternations": 5}, "noise_min_alternations"),
        ({"fleet_rate_factor": 0.5}, "fleet_rate_factor"),
    ],
)
def test_inconsistent_limits_are_refused(values: dict[str, object], key: str) -> None:
    with pytest.raises(InputError, match=f"'{key}'"):
        DeviceLimits.from_mapping(values)


def test_zero_tolerances_are_allowed() -> None:
    limits = DeviceLimits.from_mapping({"dose_tolerance_u": 0, "time_backwards_tolerance_min": 0})
    assert limits.dose_tolerance_u == 0


def test_from_mapping_needs_an_object() -> None:
    with pytest.raises(InputError, match="must be an object"):
        DeviceLimits.from_mapping([("max_bolus_u", 1)])  # type: ignore[arg-type]
