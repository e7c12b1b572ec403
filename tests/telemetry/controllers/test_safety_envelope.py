"""The independent safety envelope: limits from the logged profile, rules, fail-closed."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from medwarden.errors import InputError
from medwarden.telemetry.controllers.oref0 import Oref0Runner
from medwarden.telemetry.safety_envelope import (
    EnvelopeConfig,
    InsulinRequest,
    Rule,
    check_command,
    check_decision,
    check_request,
    derive_limits,
)
from tests.telemetry.controllers.scenarios import SCENARIOS, load_scenario

PROFILE = {"max_basal": 4.0, "max_iob": 3.0, "current_basal": 1.0, "min_bg": 100, "max_bg": 120}


def inputs(
    bg: float = 150, delta: float = 0, short: float = 0, iob: float = 0.5, temp: Any = None
) -> dict[str, Any]:
    return {
        "glucose_status": {"glucose": bg, "delta": delta, "short_avgdelta": short},
        "iob_data": [{"iob": iob, "activity": 0.01}],
        "profile": dict(PROFILE),
        "currenttemp": temp or {"duration": 0, "rate": 0},
    }


def out(rate: float | None = 1.0, duration: int | None = 30, smb: float = 0.0) -> dict[str, Any]:
    return {"rate_u_h": rate, "duration_min": duration, "smb_u": smb}


def test_limits_come_from_the_logged_profile() -> None:
    limits = derive_limits(inputs(bg=90, delta=-3, short=-5))
    assert limits.max_basal_u_h == 4.0
    assert limits.max_iob_u == 3.0
    assert limits.scheduled_basal_u_h == 1.0
    assert limits.suspend_threshold_mg_dl == 70.0  # max(70, 0.7 * 100)
    assert limits.projected_glucose_mg_dl == 90 - 5 * 6  # 15-min average trend over 30 min
    assert derive_limits(inputs(bg=90, delta=-9, short=-1)).projected_glucose_mg_dl == 90 - 6
    high_target = inputs()
    high_target["profile"]["min_bg"] = 130
    assert derive_limits(high_target).suspend_threshold_mg_dl == pytest.approx(91.0)


def test_a_normal_decision_is_within_the_envelope() -> None:
    result = check_decision(inputs(), out(2.0))
    assert result.ok
    assert result.violations == ()
    assert result.limits is not None


def test_rate_above_max_basal() -> None:
    result = check_decision(inputs(), out(4.05))
    assert result.rules == {Rule.RATE_ABOVE_MAX_BASAL}
    (v,) = result.violations
    assert (v.field, v.value, v.limit) == ("rate_u_h", 4.05, 4.0)


def test_projected_iob_above_max_iob() -> None:
    assert check_decision(inputs(iob=2.5), out(smb=0.5)).ok
    result = check_decision(inputs(iob=2.5), out(smb=0.6))
    assert result.rules == {Rule.PROJECTED_IOB_ABOVE_MAX_IOB}
    assert result.violations[0].value == pytest.approx(3.1)


def test_insulin_when_low() -> None:
    low = inputs(bg=65)
    assert check_decision(low, out(0.0)).ok
    assert check_decision(low, out(1.0)).ok  # scheduled basal is not "above"
    assert check_decision(low, out(1.2)).rules == {Rule.INSULIN_WHEN_LOW}
    assert check_decision(low, out(0.0, smb=0.1)).rules == {Rule.INSULIN_WHEN_LOW}


def test_a_running_high_temp_left_unchanged_when_low_is_flagged() -> None:
    low = inputs(bg=60, temp={"duration": 25, "rate": 3.0})
    assert check_decision(low, out(None, None)).rules == {Rule.INSULIN_WHEN_LOW}
    assert check_decision(low, out(0.0, 0)).ok  # cancelling the temp: scheduled basal


def test_insulin_when_falling_to_low() -> None:
    falling = inputs(bg=100, delta=-4, short=-6)  # projected 64 in 30 min
    assert check_decision(falling, out(2.0)).rules == {Rule.INSULIN_WHEN_FALLING_TO_LOW}
    assert check_decision(falling, out(1.0)).ok
    assert check_decision(inputs(bg=100, delta=-2, short=-2), out(2.0)).ok


@pytest.mark.parametrize(
    ("output", "rule", "field"),
    [
        (out(-0.5), Rule.NEGATIVE_VALUE, "rate_u_h"),
        (out(1.0, -30), Rule.NEGATIVE_VALUE, "duration_min"),
        (out(smb=-1.0), Rule.NEGATIVE_VALUE, "smb_u"),
        (out("fast"), Rule.NEGATIVE_VALUE, "rate_u_h"),  # type: ignore[arg-type]
        (out(1.0, 600), Rule.ABSURD_VALUE, "duration_min"),
        (out(99.0), Rule.ABSURD_VALUE, "rate_u_h"),
        (out(smb=50.0), Rule.ABSURD_VALUE, "smb_u"),
    ],
)
def test_negative_and_absurd_values(output: dict[str, Any], rule: Rule, field: str) -> None:
    result = check_decision(inputs(), output)
    assert any(v.rule is rule and v.field == field for v in result.violations)


@pytest.mark.parametrize(
    "broken",
    [
        lambda i: i.pop("profile"),
        lambda i: i["profile"].pop("max_iob"),
        lambda i: i["profile"].update(max_basal="4"),
        lambda i: i["glucose_status"].update(glucose=None),
        lambda i: i["glucose_status"].update(delta=None, short_avgdelta=None),
        lambda i: i.update(iob_data=[]),
    ],
)
def test_missing_limits_fail_closed(broken: Any) -> None:
    data = inputs()
    broken(data)
    result = check_decision(data, out(1.0))
    assert result.rules == {Rule.LIMITS_UNAVAILABLE}
    assert not result.ok
    assert result.limits is None
    with pytest.raises(InputError):
        derive_limits(data)


def test_inputs_that_are_not_an_object_fail_closed() -> None:
    result = check_request([], InsulinRequest(1.0, 30, 0.0))  # type: ignore[arg-type]
    assert result.rules == {Rule.LIMITS_UNAVAILABLE}


def test_commands() -> None:
    low = inputs(bg=60)
    assert check_command(
        inputs(), {"kind": "temp_basal", "rate_u_h": 5, "duration_min": 30}
    ).rules == {Rule.RATE_ABOVE_MAX_BASAL}
    assert check_command(low, {"kind": "bolus", "units": 0.5}).rules == {Rule.INSULIN_WHEN_LOW}
    assert check_command(inputs(iob=2.9), {"kind": "bolus", "units": 0.5}).rules == {
        Rule.PROJECTED_IOB_ABOVE_MAX_IOB
    }
    assert check_command(low, {"kind": "suspend"}).ok
    assert check_command(low, {"kind": "resume"}).ok
    assert check_command(inputs(), {"kind": "temp_basal"}).rules == {Rule.NEGATIVE_VALUE}
    assert check_command(inputs(), {"kind": "bolus"}).rules == {Rule.NEGATIVE_VALUE}
    assert check_command(inputs(), {"kind": "prime"}).rules == {Rule.ABSURD_VALUE}


def test_config_is_checked() -> None:
    with pytest.raises(InputError):
        EnvelopeConfig(low_glucose_floor_mg_dl=0)
    with pytest.raises(InputError):
        EnvelopeConfig(min_bg_fraction=2)
    strict = EnvelopeConfig(low_glucose_floor_mg_dl=90)
    assert check_decision(inputs(bg=85), out(1.5), strict).rules == {Rule.INSULIN_WHEN_LOW}


@pytest.mark.parametrize("name", SCENARIOS)
def test_oref0s_recorded_decisions_are_within_the_envelope(name: str) -> None:
    scenario = load_scenario(name)
    cli = scenario["cli_output"]
    output = {
        "rate_u_h": cli.get("rate"),
        "duration_min": cli.get("duration"),
        "smb_u": cli.get("units", 0),
    }
    assert check_decision(scenario["inputs"], output).ok


def test_oref0_decisions_over_a_glucose_sweep_stay_within_the_envelope(oref0: Oref0Runner) -> None:
    base = load_scenario("high_rising")["inputs"]
    for bg in range(60, 400, 20):
        for delta in (-8, -3, 0, 3, 8):
            data = copy.deepcopy(base)
            data["glucose_status"].update(
                glucose=bg, delta=delta, short_avgdelta=delta, long_avgdelta=delta
            )
            result = check_decision(data, oref0.decide(data))
            assert result.ok, (bg, delta, result.violations)


# -- properties ---------------------------------------------------------------------------

bgs = st.floats(40, 400, allow_nan=False)
deltas = st.floats(-15, 15, allow_nan=False)
iobs = st.floats(-2, 10, allow_nan=False)
rates = st.floats(0, 35, allow_nan=False)
smbs = st.floats(0, 10, allow_nan=False)


@given(bgs, deltas, iobs, rates, smbs)
def test_rate_above_max_basal_is_always_flagged(
    bg: float, delta: float, iob: float, rate: float, smb: float
) -> None:
    result = check_decision(inputs(bg, delta, delta, iob), out(rate, 30, smb))
    slack = EnvelopeConfig().rate_step_u_h / 2  # half a pump basal step (oref0 rounds to it)
    above = rate > PROFILE["max_basal"] + slack + 1e-9
    assert (Rule.RATE_ABOVE_MAX_BASAL in result.rules) is above


@given(bgs, deltas, iobs, smbs)
def test_iob_rule_is_exactly_iob_plus_smb(bg: float, delta: float, iob: float, smb: float) -> None:
    result = check_decision(inputs(bg, delta, delta, iob), out(1.0, 30, smb))
    expected = smb > 1e-9 and iob + smb > PROFILE["max_iob"] + 1e-9
    assert (Rule.PROJECTED_IOB_ABOVE_MAX_IOB in result.rules) is expected


@given(st.floats(40, 69.9), deltas, iobs, rates, smbs)
def test_below_threshold_nothing_above_basal_passes(
    bg: float, delta: float, iob: float, rate: float, smb: float
) -> None:
    result = check_decision(inputs(bg, delta, delta, iob), out(rate, 30, smb))
    above = rate > PROFILE["current_basal"] + 1e-9 or smb > 1e-9
    assert (Rule.INSULIN_WHEN_LOW in result.rules) is above
    assert Rule.INSULIN_WHEN_FALLING_TO_LOW not in result.rules


@given(bgs, deltas, iobs)
def test_zero_temp_without_bolus_is_always_safe(bg: float, delta: float, iob: float) -> None:
    assert check_decision(inputs(bg, delta, delta, iob), out(0.0, 30, 0.0)).ok


@given(bgs, deltas, iobs, rates, smbs, smbs)
def test_more_insulin_never_removes_a_violation(
    bg: float, delta: float, iob: float, rate: float, smb: float, extra: float
) -> None:
    assume(rate + extra <= 35 and smb + extra <= 10)
    data = inputs(bg, delta, delta, iob)
    less = check_decision(data, out(rate, 30, smb)).rules
    more = check_decision(data, out(rate + extra, 30, smb + extra)).rules
    assert less <= more


def test_rounding_to_the_pump_step_is_not_a_violation() -> None:
    """oref0 rounds a capped rate to the 0.05 U/h step: 3.55 against max_basal 3.54 is fine,
    3.60 is not."""
    from medwarden.telemetry.safety_envelope import check_decision

    inputs = {
        "glucose_status": {"glucose": 180, "delta": 2, "short_avgdelta": 2},
        "currenttemp": {"rate": 0, "duration": 0},
        "iob_data": {"iob": 0.5},
        "profile": {"max_basal": 3.54, "max_iob": 4, "current_basal": 1.2, "min_bg": 100},
    }
    ok = check_decision(inputs, {"rate_u_h": 3.55, "duration_min": 30, "smb_u": 0})
    assert not ok.violations
    over = check_decision(inputs, {"rate_u_h": 3.60, "duration_min": 30, "smb_u": 0})
    assert [v.rule.value for v in over.violations] == ["rate_above_max_basal"]
