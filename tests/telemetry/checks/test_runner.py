"""run_checks: emission rules, incremental runs, fail closed on crashes, validation."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import pytest

from medwarden.errors import UsageError
from medwarden.telemetry.checks import (
    CHECK_ERROR,
    Candidate,
    Check,
    CheckInput,
    DeviceContext,
    DeviceLimits,
    EarlyWarning,
    Lookback,
    Severity,
    StoredRecord,
    run_checks,
)
from medwarden.telemetry.records import RecordType
from tests.telemetry.checks.builders import CONTEXT, Trace, refs, registry, td


@dataclass(frozen=True, slots=True)
class Boom:
    """Raises once the window holds a reading of 999."""

    check_id: str = "boom"

    def lookback(self, limits: DeviceLimits) -> Lookback:
        return Lookback()

    def evaluate(self, data: CheckInput) -> Iterator[Candidate]:
        for stored in data.records:
            if stored.record.body.get("glucose_mg_dl") == 999:
                raise ZeroDivisionError("kaboom")
            yield Candidate("seen", Severity.INFO, (stored,), "seen", decided_by=stored)


@dataclass(frozen=True, slots=True)
class Due:
    """One time-based candidate per record, due 10 minutes after receipt."""

    check_id: str = "due"

    def lookback(self, limits: DeviceLimits) -> Lookback:
        return Lookback()

    def evaluate(self, data: CheckInput) -> Iterator[Candidate]:
        for stored in data.records:
            due = stored.received_at + td(10)
            yield Candidate("due", Severity.LOW, (stored,), "due", due=due)


def _run(
    records: Sequence[StoredRecord],
    check: Check,
    *,
    now: datetime | None = None,
    new: Collection[str] | None = None,
    previous_run: datetime | None = None,
) -> tuple[EarlyWarning, ...]:
    return run_checks(
        CONTEXT,
        DeviceLimits(),
        records,
        now=now if now is not None else max(s.received_at for s in records),
        new=new,
        previous_run=previous_run,
        registry=registry(check),
    )


def test_only_candidates_decided_by_new_records_are_emitted() -> None:
    t = Trace()
    old = t.sensors([100, 101])
    new = t.sensor(10, 102)
    found = _run(t.records, Boom(), new=[new.record_hash])
    assert [w.evidence for w in found] == [refs(new)]
    assert _run(t.records, Boom(), new=[]) == ()
    assert len(_run(t.records, Boom())) == 3
    del old


def test_rerunning_the_same_batch_yields_the_same_warnings() -> None:
    t = Trace()
    t.sensors([100, 101, 102])
    batch = [t.records[2].record_hash]
    assert _run(t.records, Boom(), new=batch) == _run(t.records, Boom(), new=batch)


def test_warning_carries_device_context_and_time() -> None:
    t = Trace()
    stored = t.sensor(0, 100)
    (warning,) = _run(t.records, Boom())
    assert (warning.check_id, warning.device_id, warning.patient_ref) == (
        "boom",
        "dev-1",
        "pt-7f3a",
    )
    assert warning.software_version == "2.4.1"
    assert warning.at == stored.received_at


def test_due_candidates_fall_due_once() -> None:
    t = Trace()
    stored = t.sensor(0, 100)
    due = stored.received_at + td(10)
    assert _run(t.records, Due(), now=due) == ()
    (warning,) = _run(t.records, Due(), now=due + td(1), new=[])
    assert warning.at == due
    assert _run(t.records, Due(), now=due + td(2), new=[], previous_run=due + td(1)) == ()
    assert len(_run(t.records, Due(), now=due + td(2), new=[], previous_run=due)) == 1


def test_crashing_check_names_the_first_new_record_that_breaks_it() -> None:
    t = Trace()
    t.sensor(0, 100)
    fine = t.sensor(5, 101)
    culprit = t.sensor(10, 999)
    t.sensor(15, 102)
    (warning,) = _run(t.records, Boom(), new=[s.record_hash for s in t.records[1:]])
    assert (warning.check_id, warning.code, warning.severity) == (
        "boom",
        CHECK_ERROR,
        Severity.HIGH,
    )
    assert warning.evidence == refs(culprit)
    assert "ZeroDivisionError: kaboom" in warning.detail
    del fine


def test_crash_without_new_records_names_the_last_record() -> None:
    t = Trace()
    t.sensor(0, 999)
    last = t.sensor(5, 100)
    (warning,) = _run(t.records, Boom(), new=[])
    assert (warning.code, warning.evidence) == (CHECK_ERROR, refs(last))


def test_crash_of_one_check_does_not_hide_the_others() -> None:
    t = Trace()
    t.sensor(0, 999)
    reg = registry(Boom(), Due())
    found = run_checks(
        CONTEXT, DeviceLimits(), t.records, now=t.records[0].received_at + td(11), registry=reg
    )
    assert sorted((w.check_id, w.code) for w in found) == [("boom", CHECK_ERROR), ("due", "due")]


def test_output_is_ordered_by_chain_position_then_check() -> None:
    t = Trace()
    t.sensors([100, 101])
    reg = registry(Due(), Boom())
    found = run_checks(
        CONTEXT, DeviceLimits(), t.records, now=t.records[-1].received_at + td(20), registry=reg
    )
    assert [(w.evidence[0].seq, w.check_id) for w in found] == [
        (0, "boom"),
        (0, "due"),
        (1, "boom"),
        (1, "due"),
    ]


def test_empty_window_yields_nothing() -> None:
    assert run_checks(CONTEXT, DeviceLimits(), [], now=Trace().sensor(0, 1).received_at) == ()


def test_inputs_are_validated() -> None:
    t = Trace()
    stored = t.sensor(0, 100)
    now = stored.received_at
    other = DeviceContext("dev-2", "pump-x", "1", "pt")
    with pytest.raises(UsageError, match="dev-1"):
        run_checks(other, DeviceLimits(), t.records, now=now)
    with pytest.raises(UsageError, match="twice"):
        run_checks(CONTEXT, DeviceLimits(), [stored, stored], now=now)
    with pytest.raises(UsageError, match="not among"):
        run_checks(CONTEXT, DeviceLimits(), t.records, now=now, new=["f" * 64])
    with pytest.raises(UsageError, match="later than now"):
        run_checks(CONTEXT, DeviceLimits(), t.records, now=now, previous_run=now + td(1))
    with pytest.raises(UsageError, match="timezone-aware"):
        run_checks(CONTEXT, DeviceLimits(), t.records, now=now.replace(tzinfo=None))


def test_default_registry_runs_every_built_in_check() -> None:
    t = Trace()
    t.sensor(0, 100)
    t.add(RecordType.SENSOR_READING, {}, 5)
    found = run_checks(CONTEXT, DeviceLimits(), t.records, now=t.records[-1].received_at)
    assert [(w.check_id, w.code) for w in found] == [("sensor_quality", CHECK_ERROR)]


@dataclass(frozen=True, slots=True)
class Foreign:
    """A buggy check naming a record that is not in its input."""

    check_id: str = "foreign"

    def lookback(self, limits: DeviceLimits) -> Lookback:
        return Lookback()

    def evaluate(self, data: CheckInput) -> Iterator[Candidate]:
        other = Trace(boot_id="elsewhere").sensor(0, 1)
        yield Candidate("x", Severity.LOW, (other,), "x", decided_by=data.records[-1])


def test_check_naming_a_record_outside_its_input_is_a_check_error() -> None:
    t = Trace()
    last = t.sensor(0, 100)
    (warning,) = _run(t.records, Foreign())
    assert (warning.code, warning.evidence) == (CHECK_ERROR, refs(last))
    assert "names a record outside its input" in warning.detail
