"""Check 2: unfilled sequence jumps and regressions."""

from __future__ import annotations

from medwarden.telemetry.checks import ChainGapCheck, DeviceLimits, Severity
from tests.telemetry.checks.builders import Trace, codes, refs, run

CHECK = ChainGapCheck()


def test_consecutive_seqs_raise_nothing() -> None:
    t = Trace()
    t.sensors([100, 101, 102])
    assert run(CHECK, t.records) == ()


def test_jump_names_the_records_around_the_gap() -> None:
    t = Trace()
    before = t.sensor(0, 100)
    after = t.add(before.kind, {"glucose_mg_dl": 100}, 5, seq=3)
    (warning,) = run(CHECK, t.records)
    assert warning.code == "chain_gap"
    assert warning.evidence == refs(before, after)
    assert warning.severity is Severity.MEDIUM
    assert "records 1..2 (2) are missing" in warning.detail


def test_tolerance_is_a_count_of_missing_records() -> None:
    t = Trace()
    t.sensor(0, 100)
    t.add(t.records[0].kind, {"glucose_mg_dl": 100}, 5, seq=3)
    assert run(CHECK, t.records, limits=DeviceLimits(chain_gap_tolerance=2)) == ()
    assert codes(run(CHECK, t.records, limits=DeviceLimits(chain_gap_tolerance=1))) == ["chain_gap"]


def test_new_boot_from_zero_is_no_gap_but_from_above_zero_is() -> None:
    t = Trace()
    t.sensor(0, 100)
    t.add(t.records[0].kind, {"glucose_mg_dl": 100}, 5, boot_id="boot-2")
    assert run(CHECK, t.records) == ()
    late = t.add(t.records[0].kind, {"glucose_mg_dl": 100}, 10, boot_id="boot-3", seq=4)
    (warning,) = run(CHECK, t.records)
    assert warning.evidence[-1] == late.ref
    assert "new boot boot-3 starts at seq 4" in warning.detail


def test_seq_regression_within_a_boot() -> None:
    t = Trace()
    t.sensor(0, 100)
    t.sensor(5, 100)
    again = t.add(t.records[0].kind, {"glucose_mg_dl": 100}, 10, seq=1)
    (warning,) = run(CHECK, t.records)
    assert (warning.code, warning.severity) == ("seq_regression", Severity.HIGH)
    assert warning.evidence == refs(t.records[1], again)


def test_a_gap_already_warned_in_history_is_not_repeated() -> None:
    t = Trace()
    t.sensor(0, 100)
    t.add(t.records[0].kind, {"glucose_mg_dl": 100}, 5, seq=3)
    newer = t.sensor(10, 100)
    assert run(CHECK, t.records, new=[newer]) == ()
