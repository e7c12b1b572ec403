"""Check 6: commands, confirmations and the doses they carry."""

from __future__ import annotations

import pytest

from medwarden.telemetry.checks import (
    CHECK_ERROR,
    CommandConfirmationCheck,
    DeviceLimits,
    Severity,
)
from medwarden.telemetry.records import RecordType
from tests.telemetry.checks.builders import Trace, by_code, codes, refs, run, td

CHECK = CommandConfirmationCheck()
LATENCY = DeviceLimits().minutes("confirmation_latency_min")


def test_confirmed_commands_raise_nothing() -> None:
    t = Trace()
    t.command(0, "c1", "bolus", units=2)
    t.confirm(1, "c1", delivered_u=2)
    t.command(5, "c2", "temp_basal", rate_u_h=1.5, duration_min=30)
    t.confirm(6, "c2", rate_u_h=1.5)
    t.command(10, "c3", "suspend")
    t.confirm(10, "c3")
    t.sensor(60, 100)
    assert run(CHECK, t.records) == ()


def test_confirmation_at_the_latency_is_in_time() -> None:
    t = Trace()
    t.command(0, "c1", "bolus", units=2)
    t.confirm(10, "c1", delivered_u=2)
    t.sensor(30, 100)
    assert run(CHECK, t.records) == ()


def test_late_confirmation_leaves_the_command_unconfirmed() -> None:
    t = Trace()
    cmd = t.command(0, "c1", "bolus", units=2)
    t.confirm(10.01, "c1", delivered_u=2)
    (warning,) = run(CHECK, t.records)
    assert (warning.code, warning.severity) == ("command_unconfirmed", Severity.HIGH)
    assert warning.evidence == refs(cmd)
    assert warning.at == cmd.received_at + LATENCY


def test_unconfirmed_is_not_judged_before_the_latency_elapsed() -> None:
    t = Trace()
    cmd = t.command(0, "c1", "bolus", units=2)
    t.sensor(10, 100)
    due = cmd.received_at + LATENCY
    assert run(CHECK, t.records, now=due) == ()
    assert codes(run(CHECK, t.records, now=due + td(0.01))) == ["command_unconfirmed"]


def test_a_later_record_past_the_deadline_decides_it() -> None:
    t = Trace()
    cmd = t.command(0, "c1", "bolus", units=2)
    decider = t.sensor(10.5, 100)
    (warning,) = run(CHECK, t.records, new=[decider])
    assert warning.evidence == refs(cmd)
    assert run(CHECK, t.records, new=[]) == ()


def test_time_decided_unconfirmed_is_not_repeated_when_records_arrive() -> None:
    t = Trace()
    cmd = t.command(0, "c1", "bolus", units=2)
    due = cmd.received_at + LATENCY
    first = run(CHECK, t.records, now=due + td(1), new=[cmd])
    assert codes(first) == ["command_unconfirmed"]
    later = t.sensor(30, 100)
    assert run(CHECK, t.records, new=[later], previous_run=due + td(1)) == ()


def test_confirmation_without_command() -> None:
    t = Trace()
    t.command(0, "c1", "bolus", units=2)
    t.confirm(1, "c1", delivered_u=2)
    orphan = t.confirm(2, "c9", delivered_u=2)
    (warning,) = run(CHECK, t.records)
    assert (warning.code, warning.severity) == ("confirmation_without_command", Severity.CRITICAL)
    assert warning.evidence == refs(orphan)


def test_command_outside_the_match_window_does_not_match() -> None:
    limits = DeviceLimits(command_match_window_min=60, confirmation_latency_min=70)
    t = Trace()
    t.command(0, "c1", "bolus", units=2)
    t.confirm(60, "c1", delivered_u=2)
    assert run(CHECK, t.records, limits=limits) == ()
    t.confirm(60.01, "c1", delivered_u=2)
    assert codes(run(CHECK, t.records, limits=limits)) == ["confirmation_without_command"]


@pytest.mark.parametrize(
    ("kind", "command", "confirmation", "flagged"),
    [
        ("bolus", {"units": 2.0}, {"delivered_u": 2.5}, False),
        ("bolus", {"units": 2.0}, {"delivered_u": 2.5000001}, True),
        ("bolus", {"units": 2.0}, {"delivered_u": 1.0}, True),
        ("temp_basal", {"rate_u_h": 1.0, "duration_min": 30}, {"rate_u_h": 1.5}, False),
        ("temp_basal", {"rate_u_h": 1.0, "duration_min": 30}, {"rate_u_h": 1.75}, True),
    ],
)
def test_dose_mismatch_at_the_tolerance(
    kind: str, command: dict[str, float], confirmation: dict[str, float], flagged: bool
) -> None:
    limits = DeviceLimits(dose_tolerance_u=0.5, rate_tolerance_u_h=0.5)
    t = Trace()
    cmd = t.add(RecordType.ACTUATOR_COMMAND, {"command_id": "c1", "kind": kind, **command}, 0)
    body = {"command_id": "c1", "status": "delivered", **confirmation}
    conf = t.add(RecordType.ACTUATOR_CONFIRMATION, body, 1)
    found = run(CHECK, t.records, limits=limits)
    expected = [("dose_mismatch", Severity.CRITICAL, refs(cmd, conf))] if flagged else []
    assert [(w.code, w.severity, w.evidence) for w in found] == expected


def test_failed_or_rejected_confirmations_carry_no_dose() -> None:
    t = Trace()
    t.command(0, "c1", "bolus", units=2)
    t.confirm(1, "c1", status="failed", delivered_u=0)
    t.command(2, "c2", "bolus", units=2)
    t.confirm(3, "c2", status="rejected")
    assert run(CHECK, t.records) == ()


def test_duplicate_command_id() -> None:
    t = Trace()
    first = t.command(0, "c1", "bolus", units=2)
    t.confirm(1, "c1", delivered_u=2)
    second = t.command(5, "c1", "bolus", units=2)
    t.confirm(6, "c1", delivered_u=2)
    (warning,) = run(CHECK, t.records)
    assert (warning.code, warning.evidence) == ("duplicate_command_id", refs(first, second))


@pytest.mark.parametrize(
    "body",
    [
        {"status": "delivered"},
        {"command_id": 7, "status": "delivered"},
        {"command_id": "c1"},
        {"command_id": "c1", "status": "maybe"},
        {"command_id": "c1", "status": "delivered"},
        {"command_id": "c1", "status": "delivered", "delivered_u": "2"},
    ],
)
def test_malformed_confirmation_is_a_check_error_naming_it(body: dict[str, object]) -> None:
    t = Trace()
    t.command(0, "c1", "bolus", units=2)
    bad = t.add(RecordType.ACTUATOR_CONFIRMATION, body, 1)
    errors = by_code(run(CHECK, t.records, now=t.records[0].received_at), CHECK_ERROR)
    assert [w.evidence for w in errors] == [refs(bad)]


def test_lookback_asks_for_the_last_command() -> None:
    lookback = CHECK.lookback(DeviceLimits(command_match_window_min=5))
    assert RecordType.ACTUATOR_COMMAND in lookback.last_of
    assert lookback.duration == LATENCY
