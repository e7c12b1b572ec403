"""The closed-loop checks: controller re-computation, inputs, commands and the safety envelope."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pytest

from medwarden.telemetry.checks import (
    CHECK_ERROR,
    Check,
    DeviceLimits,
    EarlyWarning,
    Severity,
    StoredRecord,
    run_checks,
)
from medwarden.telemetry.checks.envelope_check import SafetyEnvelopeCheck
from medwarden.telemetry.checks.recompute_check import ControllerRecomputeCheck
from medwarden.telemetry.checks.registry import closed_loop_registry, default_registry
from medwarden.telemetry.controllers.inprocess import ProportionalBasalController
from medwarden.telemetry.controllers.oref0 import Oref0Runner
from medwarden.telemetry.controllers.registry import ControllerRegistry
from medwarden.telemetry.records import JsonObject, RecordType
from tests.telemetry.checks.builders import CONTEXT, Trace, by_code, codes, named, registry
from tests.telemetry.controllers.conftest import oref0, oref0_dir  # noqa: F401 - fixtures
from tests.telemetry.controllers.scenarios import load_scenario

PROP = ProportionalBasalController()
PROFILE = {
    "current_basal": 1.0,
    "max_basal": 3.0,
    "max_iob": 3.0,
    "min_bg": 100,
    "max_bg": 120,
    "sens": 50,
}


def inputs(glucose: float, *, delta: float = 0.0, iob: float = 0.5) -> dict[str, Any]:
    """An input tuple the reference controller (and the envelope) can read."""
    return {
        "glucose_status": {
            "glucose": glucose,
            "delta": delta,
            "short_avgdelta": delta,
            "long_avgdelta": delta,
        },
        "iob_data": {"iob": iob, "activity": 0.01},
        "profile": dict(PROFILE),
        "currenttemp": {"rate": 0, "duration": 0, "temp": "absolute"},
    }


def decided(values: dict[str, Any]) -> dict[str, Any]:
    """What the reference controller outputs for ``values`` (without ``raw``)."""
    out = dict(PROP.decide(values))
    out.pop("raw")
    return out


def decision(
    trace: Trace,
    minute: float,
    glucose: float,
    *,
    output: dict[str, Any] | None = None,
    algorithm: str = PROP.algorithm,
    version: str = PROP.version,
    values: dict[str, Any] | None = None,
) -> StoredRecord:
    tuple_ = values if values is not None else inputs(glucose)
    body = {
        "algorithm": algorithm,
        "algorithm_version": version,
        "inputs": tuple_,
        "output": output if output is not None else decided(tuple_),
    }
    return trace.add(RecordType.CONTROLLER_DECISION, body, minute)


def temp(trace: Trace, minute: float, made: StoredRecord, rate: float, cid: str) -> StoredRecord:
    return trace.command(
        minute, cid, "temp_basal", rate_u_h=rate, duration_min=30, decision_seq=made.record.seq
    )


def controllers() -> ControllerRegistry:
    return ControllerRegistry(PROP)


def closed_loop(*, envelope: bool = True) -> list[Check]:
    checks: list[Check] = [ControllerRecomputeCheck(controllers())]
    return [*checks, SafetyEnvelopeCheck()] if envelope else checks


def run(records: Sequence[StoredRecord], *checks: Check, **kwargs: Any) -> tuple[EarlyWarning, ...]:
    """Run ``checks`` (default: both closed-loop checks) over ``records``, all new."""
    return run_checks(
        CONTEXT,
        DeviceLimits(),
        records,
        now=max(s.received_at for s in records),
        registry=registry(*(checks or closed_loop())),
        **kwargs,
    )


def cycle(trace: Trace, start: float, glucose: float, cid: str) -> tuple[StoredRecord, ...]:
    """One faithful loop cycle: reading, decision, its command, the confirmation."""
    reading = trace.sensor(start, glucose)
    made = decision(trace, start + 0.5, glucose)
    rate = decided(inputs(glucose))["rate_u_h"]
    command = temp(trace, start + 1, made, rate, cid)
    confirm = trace.confirm(start + 1.5, cid, rate_u_h=rate)
    return reading, made, command, confirm


def test_a_faithful_loop_raises_nothing() -> None:
    trace = Trace()
    for i, glucose in enumerate((150, 160, 140, 95)):
        cycle(trace, 5 * i, glucose, f"c{i}")
    assert run(trace.records) == ()


def test_a_different_recomputed_output_is_a_decision_mismatch() -> None:
    trace = Trace()
    trace.sensor(0, 150)
    made = decision(trace, 1, 150, output={"rate_u_h": 2.0, "duration_min": 30, "smb_u": 0.0})
    (warning,) = run(trace.records, ControllerRecomputeCheck(controllers()))
    assert (warning.code, warning.severity, named(warning)) == (
        "decision_mismatch",
        Severity.HIGH,
        [made.record.seq],
    )
    assert "rate_u_h logged 2.0 vs re-computed 1.3" in warning.detail


@pytest.mark.parametrize(
    ("algorithm", "values", "reason"),
    [
        ("no-such-controller", inputs(150), "no controller runner is registered"),
        (PROP.algorithm, {**inputs(150), "profile": {"sens": 50}}, "profile/current_basal"),
    ],
)
def test_what_cannot_be_recomputed_fails_closed(
    algorithm: str, values: dict[str, Any], reason: str
) -> None:
    trace = Trace()
    trace.sensor(0, 150)
    output = {"rate_u_h": 1.0, "duration_min": 30, "smb_u": 0.0}
    made = decision(trace, 1, 150, output=output, algorithm=algorithm, values=values)
    (warning,) = run(trace.records, ControllerRecomputeCheck(controllers()))
    assert (warning.code, warning.severity) == ("cannot_recompute", Severity.MEDIUM)
    assert warning.evidence == (made.ref,)
    assert reason in warning.detail


def test_a_malformed_logged_output_cannot_be_recomputed() -> None:
    trace = Trace()
    trace.sensor(0, 150)
    decision(trace, 1, 150, output={"rate_u_h": "fast"})
    (warning,) = run(trace.records, ControllerRecomputeCheck(controllers()))
    assert warning.code == "cannot_recompute"
    assert "rate_u_h" in warning.detail


def test_a_decision_fed_another_glucose_than_the_reading_logged() -> None:
    """The device logged 150 mg/dL and fed 250 to its controller (consistent output)."""
    trace = Trace()
    reading = trace.sensor(0, 150)
    trace.add(RecordType.DEVICE_EVENT, {"event": "battery_low"}, 0.2)
    made = decision(trace, 1, 250)
    (warning,) = run(trace.records, ControllerRecomputeCheck(controllers()))
    assert (warning.code, warning.severity) == ("decision_input_mismatch", Severity.HIGH)
    assert warning.evidence == (reading.ref, made.ref)
    assert "used glucose 250 mg/dL" in warning.detail
    assert "is 150 mg/dL" in warning.detail


def test_half_a_mg_dl_is_tolerated_and_the_latest_reading_counts() -> None:
    trace = Trace()
    trace.sensor(0, 250)
    trace.sensor(5, 150)
    decision(trace, 6, 150.5)
    assert run(trace.records, ControllerRecomputeCheck(controllers())) == ()


def test_a_decision_without_any_reading_before_it() -> None:
    trace = Trace()
    made = decision(trace, 0, 150)
    (warning,) = run(trace.records, ControllerRecomputeCheck(controllers()))
    assert warning.code == "decision_input_mismatch"
    assert warning.evidence == (made.ref,)


def test_a_reading_without_glucose_is_a_check_error_of_the_decision() -> None:
    trace = Trace()
    reading = trace.add(RecordType.SENSOR_READING, {"quality": "ok"}, 0)
    made = decision(trace, 1, 150)
    (warning,) = run(trace.records, ControllerRecomputeCheck(controllers()))
    assert (warning.code, warning.evidence) == (CHECK_ERROR, (reading.ref, made.ref))


def test_a_command_other_than_decided_is_judged_when_the_loop_moves_on() -> None:
    trace = Trace()
    trace.sensor(0, 150)
    made = decision(trace, 0.5, 150)
    command = temp(trace, 1, made, 2.5, "c1")
    trace.confirm(1.5, "c1", rate_u_h=2.5)
    assert run(trace.records, ControllerRecomputeCheck(controllers())) == ()  # not yet decidable
    trace.sensor(5, 150)
    following = decision(trace, 5.5, 150)
    warnings = run(trace.records, ControllerRecomputeCheck(controllers()))
    (warning,) = by_code(warnings, "command_decision_mismatch")
    assert warning.evidence == (made.ref, command.ref)
    assert "commands[0].rate_u_h 2.5 vs decided 1.3" in warning.detail
    assert warning.at == following.received_at  # decided by the next decision


def test_a_decided_change_no_command_executed() -> None:
    trace = Trace()
    trace.sensor(0, 150)
    made = decision(trace, 0.5, 150)
    trace.sensor(5, 150)
    trace.add(RecordType.DEVICE_EVENT, {"event": "boot"}, 6, boot_id="boot-2")
    (warning,) = by_code(
        run(trace.records, ControllerRecomputeCheck(controllers())), "command_decision_mismatch"
    )
    assert warning.evidence == (made.ref,)
    assert "no actuator_command executed the decided change" in warning.detail


def test_a_command_naming_a_record_that_is_no_decision() -> None:
    trace = Trace()
    reading = trace.sensor(0, 150)
    command = trace.command(1, "c1", "bolus", units=1.0, decision_seq=reading.record.seq)
    (warning,) = run(trace.records, ControllerRecomputeCheck(controllers()))
    assert (warning.code, warning.evidence) == (
        "command_decision_mismatch",
        (reading.ref, command.ref),
    )


def test_unsafe_decisions_and_commands_name_the_rule() -> None:
    trace = Trace()
    trace.sensor(0, 60)
    output = {"rate_u_h": 2.0, "duration_min": 30, "smb_u": 0.0}
    made = decision(trace, 0.5, 60, output=output)
    command = temp(trace, 1, made, 4.0, "c1")
    first, second = run(trace.records, SafetyEnvelopeCheck())
    assert (first.code, first.severity, first.evidence) == (
        "safety_envelope_violation",
        Severity.HIGH,
        (made.ref,),
    )
    assert "insulin_when_low" in first.detail
    assert second.evidence == (made.ref, command.ref)
    assert "rate_above_max_basal" in second.detail
    assert "insulin_when_low" in second.detail


def test_missing_limits_fail_closed_at_medium() -> None:
    trace = Trace()
    values = inputs(150)
    del values["profile"]["max_iob"]
    decision(trace, 0, 150, values=values, output={"rate_u_h": 1.0, "duration_min": 30, "smb_u": 0})
    (warning,) = run(trace.records, SafetyEnvelopeCheck())
    assert warning.severity is Severity.MEDIUM
    assert "limits_unavailable" in warning.detail


def test_a_decision_output_that_is_no_object_is_a_check_error() -> None:
    trace = Trace()
    decision(trace, 0, 150, output=[1])  # type: ignore[arg-type]
    assert codes(run(trace.records, SafetyEnvelopeCheck())) == [CHECK_ERROR]


def test_runs_over_any_split_equal_one_run_over_everything() -> None:
    """With the registry's look-back, incremental runs repeat and lose nothing."""
    trace = Trace()
    cycle(trace, 0, 150, "c0")
    trace.sensor(5, 150)
    made = decision(trace, 5.5, 250)  # input mismatch
    temp(trace, 6, made, 2.9, "c1")  # command mismatch, judged at the next decision
    cycle(trace, 10, 140, "c2")
    decision(trace, 15.5, 140, output={"rate_u_h": 0.0, "duration_min": 30, "smb_u": 0.0})
    cycle(trace, 20, 130, "c3")
    checks = registry(*closed_loop())
    limits = DeviceLimits()
    records = trace.records
    whole = run_checks(CONTEXT, limits, records, now=records[-1].received_at, registry=checks)
    assert sorted(codes(whole)) == [
        "command_decision_mismatch",  # the 2.9 U/h command of the tampered decision
        "command_decision_mismatch",  # the zero temp that no command executed
        "decision_input_mismatch",
        "decision_mismatch",
    ]
    lookback = checks.lookback(limits)
    for cut in range(1, len(records)):
        first, rest = records[:cut], records[cut:]
        window = [*lookback.select(first, rest), *rest]
        split = run_checks(
            CONTEXT, limits, first, now=first[-1].received_at, registry=checks
        ) + run_checks(
            CONTEXT,
            limits,
            window,
            now=records[-1].received_at,
            new=[s.record_hash for s in rest],
            previous_run=first[-1].received_at,
            registry=checks,
        )
        assert sorted(split, key=repr) == sorted(whole, key=repr), cut


class Counting:
    """A controller that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    @property
    def algorithm(self) -> str:
        return PROP.algorithm

    @property
    def version(self) -> str:
        return PROP.version

    def decide(self, values: JsonObject) -> JsonObject:
        self.calls += 1
        return PROP.decide(values)

    def close(self) -> None:
        """Nothing to close."""


def test_verified_decisions_are_recomputed_once() -> None:
    counting = Counting()
    check = ControllerRecomputeCheck(ControllerRegistry(counting))
    trace = Trace()
    cycle(trace, 0, 150, "c0")
    run(trace.records, check)
    run(trace.records, check)
    assert counting.calls == 1


def test_the_closed_loop_registry_adds_both_checks_to_the_defaults() -> None:
    found = closed_loop_registry(controllers())
    assert set(found.ids()) == {
        *default_registry().ids(),
        "controller_recompute",
        "safety_envelope",
    }


def oref0_decision(trace: Trace, name: str, **change: Any) -> StoredRecord:
    scenario = load_scenario(name)
    raw = scenario["cli_output"]
    output = {"rate_u_h": float(raw["rate"]), "duration_min": int(raw["duration"])}
    output["smb_u"] = float(raw.get("units") or 0)
    output.update(change)
    trace.sensor(0, scenario["inputs"]["glucose_status"]["glucose"])
    body = {
        "algorithm": "oref0-determine-basal",
        "algorithm_version": "0.7.1",
        "inputs": copy.deepcopy(scenario["inputs"]),
        "output": output,
        "raw": raw,
    }
    return trace.add(RecordType.CONTROLLER_DECISION, body, 1)


def test_a_recorded_oref0_decision_matches_under_the_real_runner(oref0: Oref0Runner) -> None:  # noqa: F811
    trace = Trace()
    oref0_decision(trace, "high_rising")
    checks = (ControllerRecomputeCheck(ControllerRegistry(oref0)), SafetyEnvelopeCheck())
    assert run(trace.records, *checks) == ()


def test_a_tampered_oref0_decision_is_a_mismatch(oref0: Oref0Runner) -> None:  # noqa: F811
    trace = Trace()
    made = oref0_decision(trace, "high_rising", rate_u_h=3.5)
    (warning,) = run(trace.records, ControllerRecomputeCheck(ControllerRegistry(oref0)))
    assert (warning.code, warning.evidence) == ("decision_mismatch", (made.ref,))
    assert "rate_u_h logged 3.5 vs re-computed 4.0" in warning.detail
