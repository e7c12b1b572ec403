"""The explicit check registry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from medwarden.errors import ConflictError, NotFoundError, UsageError
from medwarden.telemetry.checks import (
    Candidate,
    CheckInput,
    CheckRegistry,
    DeviceLimits,
    Lookback,
    Severity,
    StaleDataCheck,
    default_registry,
    run_checks,
)
from medwarden.telemetry.records import RecordType
from tests.telemetry.checks.builders import CONTEXT, Trace, refs


@dataclass(frozen=True, slots=True)
class EveryAlarm:
    """A third-party check: one info warning per alarm record."""

    check_id: str = "wrapped.alarms"

    def lookback(self, limits: DeviceLimits) -> Lookback:
        return Lookback(records=3)

    def evaluate(self, data: CheckInput) -> Iterator[Candidate]:
        for stored in data.records:
            if stored.kind is RecordType.ALARM:
                yield Candidate("alarm_seen", Severity.INFO, (stored,), "alarm", decided_by=stored)


def test_default_registry_holds_the_built_in_checks_in_id_order() -> None:
    registry = default_registry()
    assert registry.ids() == (
        "actuation_limits",
        "chain_gap",
        "command_confirmation",
        "sensor_quality",
        "stale_data",
        "time_base",
    )
    assert [c.check_id for c in registry] == list(registry.ids())
    assert len(registry) == 6
    assert "stale_data" in registry
    assert default_registry() is not registry


def test_duplicate_ids_are_refused() -> None:
    registry = CheckRegistry([StaleDataCheck()])
    with pytest.raises(ConflictError, match="'stale_data'"):
        registry.register(StaleDataCheck())
    with pytest.raises(ConflictError):
        CheckRegistry([EveryAlarm(), EveryAlarm()])


@pytest.mark.parametrize("bad", ["", "Upper", "1abc", "with space", "x" * 65])
def test_invalid_ids_are_refused(bad: str) -> None:
    with pytest.raises(UsageError, match="check id"):
        CheckRegistry([EveryAlarm(check_id=bad)])


def test_get_unknown_check() -> None:
    assert default_registry().get("chain_gap").check_id == "chain_gap"
    with pytest.raises(NotFoundError):
        default_registry().get("nope")


def test_registry_is_open_for_wrapped_checks() -> None:
    registry = default_registry()
    registry.register(EveryAlarm())
    t = Trace()
    t.sensor(0, 100)
    alarm = t.event(1, RecordType.ALARM, code="x", severity="low")
    found = run_checks(CONTEXT, DeviceLimits(), t.records, now=alarm.received_at, registry=registry)
    assert [(w.check_id, w.code, w.evidence) for w in found] == [
        ("wrapped.alarms", "alarm_seen", refs(alarm))
    ]


def test_registry_lookback_is_the_union() -> None:
    registry = default_registry()
    registry.register(EveryAlarm())
    limits = DeviceLimits()
    lookback = registry.lookback(limits)
    assert lookback.records == max(3, limits.drift_min_records)
    assert lookback.last_of == {RecordType.SENSOR_READING, RecordType.ACTUATOR_COMMAND}
    assert lookback.duration == max(c.lookback(limits).duration for c in registry)
