"""Re-computation comparison: verdicts, field-level differences, tolerances, fail-closed."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from medwarden.errors import ConfigError, InputError
from medwarden.telemetry.controllers.inprocess import ProportionalBasalController
from medwarden.telemetry.controllers.oref0 import Oref0Runner
from medwarden.telemetry.controllers.registry import ControllerRegistry
from medwarden.telemetry.controllers.subprocess_runner import RunnerLimits
from medwarden.telemetry.recompute import (
    DecisionOutput,
    RecomputeResult,
    Source,
    Tolerances,
    Verdict,
    compare_commands,
    compare_decision,
    compare_outputs,
    parse_output,
    recompute_decision,
)
from tests.telemetry.controllers.scenarios import SCENARIOS, load_scenario

TEMP = {"rate_u_h": 1.5, "duration_min": 30, "smb_u": 0.0}
NO_CHANGE = {"rate_u_h": None, "duration_min": None, "smb_u": 0.0}

rates = st.one_of(st.none(), st.floats(0, 35, allow_nan=False))
outputs = st.builds(
    lambda rate, duration, smb: {
        "rate_u_h": rate,
        "duration_min": None if rate is None else duration,
        "smb_u": smb,
    },
    rates,
    st.integers(0, 120),
    st.floats(0, 10, allow_nan=False),
)


def fields(result: RecomputeResult) -> set[str]:
    return {d.field for d in result.differences}


def test_identical_outputs_match() -> None:
    result = compare_outputs(TEMP, dict(TEMP))
    assert result.verdict is Verdict.MATCH
    assert result.matches
    assert result.differences == ()
    assert result.recomputed == DecisionOutput(1.5, 30, 0.0)


def test_float_noise_matches_but_one_step_does_not() -> None:
    assert compare_outputs(
        {**TEMP, "rate_u_h": 0.35}, {**TEMP, "rate_u_h": 0.35000000000000003}
    ).matches
    result = compare_outputs({**TEMP, "rate_u_h": 0.36}, {**TEMP, "rate_u_h": 0.35})
    assert result.verdict is Verdict.MISMATCH
    (diff,) = result.differences
    assert (diff.source, diff.field, diff.logged, diff.expected) == (
        Source.RECOMPUTED,
        "rate_u_h",
        0.36,
        0.35,
    )
    assert diff.tolerance == 0.005


def test_every_field_is_reported() -> None:
    result = compare_outputs(
        {"rate_u_h": 3.0, "duration_min": 60, "smb_u": 0.5},
        {"rate_u_h": 1.0, "duration_min": 30, "smb_u": 0.0},
    )
    assert fields(result) == {"rate_u_h", "duration_min", "smb_u"}


def test_no_change_versus_a_temp_is_a_mismatch() -> None:
    result = compare_outputs(NO_CHANGE, TEMP)
    assert result.verdict is Verdict.MISMATCH
    assert fields(result) == {"rate_u_h", "duration_min"}


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {"rate_u_h": 1.0, "duration_min": None, "smb_u": 0},
        {"rate_u_h": -0.1, "duration_min": 30, "smb_u": 0},
        {"rate_u_h": 1.0, "duration_min": 30.0, "smb_u": 0},
        {"rate_u_h": 1.0, "duration_min": True, "smb_u": 0},
        {"rate_u_h": 1.0, "duration_min": 30},
        {"rate_u_h": 1.0, "duration_min": 30, "smb_u": float("nan")},
        {"rate_u_h": "1.0", "duration_min": 30, "smb_u": 0},
    ],
)
def test_malformed_outputs_cannot_be_recomputed(bad: Any) -> None:
    for logged, recomputed in ((bad, TEMP), (TEMP, bad)):
        result = compare_outputs(logged, recomputed)
        assert result.verdict is Verdict.CANNOT_RECOMPUTE
        assert result.reason
        assert not result.matches
    with pytest.raises(InputError):
        parse_output(bad)


def test_commands_that_execute_the_decision_match() -> None:
    decided = {"rate_u_h": 0.37, "duration_min": 30, "smb_u": 0.3}
    commands = [
        {"kind": "temp_basal", "rate_u_h": 0.35, "duration_min": 30},  # pump's 0.05 step
        {"kind": "bolus", "units": 0.1},
        {"kind": "bolus", "units": 0.2},
    ]
    assert compare_decision(decided, decided, commands).matches


@pytest.mark.parametrize(
    ("commands", "field"),
    [
        ([{"kind": "temp_basal", "rate_u_h": 2.0, "duration_min": 30}], "commands[0].rate_u_h"),
        (
            [{"kind": "temp_basal", "rate_u_h": 1.5, "duration_min": 120}],
            "commands[0].duration_min",
        ),
        ([], "temp_basal"),
        ([{"kind": "temp_basal", "rate_u_h": 1.5, "duration_min": 30}] * 2, "temp_basal"),
        (
            [
                {"kind": "temp_basal", "rate_u_h": 1.5, "duration_min": 30},
                {"kind": "bolus", "units": 1},
            ],
            "bolus.units",
        ),
        (
            [{"kind": "temp_basal", "rate_u_h": 1.5, "duration_min": 30}, {"kind": "suspend"}],
            "commands[1].kind",
        ),
        ([{"kind": "temp_basal", "duration_min": 30}], "commands[0]"),
        ([{"kind": "temp_basal", "rate_u_h": 1.5}], "commands[0]"),
        (
            [{"kind": "temp_basal", "rate_u_h": 1.5, "duration_min": 30}, {"kind": "bolus"}],
            "commands[1]",
        ),
    ],
)
def test_commands_that_differ_from_the_decision(commands: list[dict[str, Any]], field: str) -> None:
    result = compare_decision(TEMP, TEMP, commands if commands else [{"kind": "bolus", "units": 0}])
    assert result.verdict is Verdict.MISMATCH
    assert field in fields(result)
    assert all(d.source is Source.COMMAND for d in result.differences)


def test_a_temp_command_after_no_change_is_flagged() -> None:
    diffs = compare_commands(
        parse_output(NO_CHANGE), [{"kind": "temp_basal", "rate_u_h": 1.0, "duration_min": 30}]
    )
    assert [d.note for d in diffs] == ["no change decided"]


def test_tolerances_are_checked() -> None:
    with pytest.raises(InputError):
        Tolerances(rate_u_h=-1)
    with pytest.raises(InputError):
        Tolerances(command_rate_u_h=5)


@given(outputs)
def test_an_output_always_matches_itself(output: dict[str, Any]) -> None:
    assert compare_outputs(output, copy.deepcopy(output)).matches


@given(outputs, outputs)
def test_comparison_is_symmetric_in_verdict(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert compare_outputs(a, b).verdict is compare_outputs(b, a).verdict
    assert fields(compare_outputs(a, b)) == fields(compare_outputs(b, a))


@given(outputs, st.floats(0.0051, 5, allow_nan=False))
def test_a_rate_moved_beyond_tolerance_is_always_a_mismatch(
    output: dict[str, Any], shift: float
) -> None:
    assume(output["rate_u_h"] is not None)
    tampered = {**output, "rate_u_h": output["rate_u_h"] + shift}
    result = compare_outputs(tampered, output)
    assert result.verdict is Verdict.MISMATCH
    assert "rate_u_h" in fields(result)


@given(
    outputs,
    st.floats(-0.0049, 0.0049, allow_nan=False),
    st.floats(-0.0049, 0.0049, allow_nan=False),
)
def test_noise_within_tolerance_always_matches(
    output: dict[str, Any], dr: float, ds: float
) -> None:
    noisy = dict(output)
    if output["rate_u_h"] is not None:
        noisy["rate_u_h"] = max(0.0, output["rate_u_h"] + dr)
    noisy["smb_u"] = max(0.0, output["smb_u"] + ds)
    assert compare_outputs(noisy, output).matches


@given(outputs, st.floats(0, 35, allow_nan=False), st.integers(0, 120))
def test_a_command_never_matches_a_different_temp(
    output: dict[str, Any], rate: float, duration: int
) -> None:
    assume(output["rate_u_h"] is not None)
    command = {"kind": "temp_basal", "rate_u_h": rate, "duration_min": duration}
    bolus = [{"kind": "bolus", "units": output["smb_u"]}]
    result = compare_decision(output, output, [command, *bolus])
    close = abs(rate - output["rate_u_h"]) <= 0.025 + 1e-9 and duration == output["duration_min"]
    assert result.matches is close


# -- end to end with real runners -------------------------------------------------------


def decision(name: str, output: dict[str, Any] | None = None) -> dict[str, Any]:
    scenario = load_scenario(name)
    cli = scenario["cli_output"]
    return {
        "algorithm": "oref0-determine-basal",
        "algorithm_version": "0.7.1",
        "inputs": scenario["inputs"],
        "output": output
        if output is not None
        else {
            "rate_u_h": cli.get("rate"),
            "duration_min": cli.get("duration"),
            "smb_u": cli.get("units", 0),
        },
    }


@pytest.mark.parametrize("name", SCENARIOS)
def test_oref0_logged_decisions_match_their_recomputation(oref0: Oref0Runner, name: str) -> None:
    result = recompute_decision(decision(name), ControllerRegistry(oref0).get)
    assert result.verdict is Verdict.MATCH, result


def test_a_tampered_decision_is_a_mismatch(oref0: Oref0Runner) -> None:
    body = decision("low_falling")
    body["output"] = {"rate_u_h": 2.0, "duration_min": 30, "smb_u": 0.0}
    result = recompute_decision(body, ControllerRegistry(oref0).get)
    assert result.verdict is Verdict.MISMATCH
    assert fields(result) == {"rate_u_h", "duration_min"}


def test_tampered_inputs_are_a_mismatch(oref0: Oref0Runner) -> None:
    body = copy.deepcopy(decision("high_rising"))
    body["inputs"]["glucose_status"]["glucose"] = 80  # the device claims it saw 80 mg/dL
    result = recompute_decision(body, ControllerRegistry(oref0).get)
    assert result.verdict is Verdict.MISMATCH


def test_unknown_algorithm_cannot_be_recomputed() -> None:
    body = decision("high_rising")
    body["algorithm_version"] = "0.6.0"
    result = recompute_decision(body, ControllerRegistry(ProportionalBasalController()).get)
    assert result.verdict is Verdict.CANNOT_RECOMPUTE
    assert result.reason is not None
    assert "MW002" in result.reason


@pytest.mark.parametrize(
    "change",
    [
        {"algorithm": None},
        {"inputs": []},
    ],
)
def test_incomplete_bodies_cannot_be_recomputed(change: dict[str, Any]) -> None:
    body = {**decision("high_rising"), **change}
    result = recompute_decision(body, ControllerRegistry().get)
    assert result.verdict is Verdict.CANNOT_RECOMPUTE


def test_bad_inputs_and_runner_failures_cannot_be_recomputed(oref0_dir: Any) -> None:
    body = copy.deepcopy(decision("high_rising"))
    del body["inputs"]["profile"]
    with Oref0Runner(oref0_dir) as runner:
        result = recompute_decision(body, ControllerRegistry(runner).get)
    assert result.verdict is Verdict.CANNOT_RECOMPUTE
    assert result.reason is not None
    assert "MW100" in result.reason
    with Oref0Runner(oref0_dir, limits=RunnerLimits(timeout_s=0.001)) as slow:
        result = recompute_decision(decision("high_rising"), ControllerRegistry(slow).get)
    assert result.verdict is Verdict.CANNOT_RECOMPUTE
    assert result.reason is not None
    assert "MW601" in result.reason


def test_registry_lookup_config_error_is_reported() -> None:
    def lookup(algorithm: str, version: str) -> Any:
        raise ConfigError("runner missing")

    result = recompute_decision(decision("high_rising"), lookup)
    assert result.reason == "[MW002] runner missing"
