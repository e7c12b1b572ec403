"""What the closed-loop checks share: decisions, the commands that name them, their inputs.

A ``controller_decision`` is executed by the ``actuator_command`` records of the same boot
whose ``decision_seq`` is the decision's ``seq``.  The decision's commands are taken to
be complete once the control loop has moved on: at the first later record that is
another ``controller_decision`` or belongs to another boot (the *closing* record).
Commands are expected to follow their decision within ``command_match_window_min``
(the look-back of the checks that use this module).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from medwarden.telemetry.checks.base import StoredRecord
from medwarden.telemetry.records import RecordType

__all__ = [
    "Decision",
    "closing_record",
    "commands_of",
    "decisions",
    "latest_reading_before",
    "named_decision",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """A controller decision, its position in the window and its body parts."""

    index: int
    stored: StoredRecord

    @property
    def body(self) -> Mapping[str, Any]:
        """The decision's body."""
        return self.stored.record.body

    @property
    def inputs(self) -> Mapping[str, Any]:
        """The logged input tuple (an object: the record itself guarantees it)."""
        value = self.body.get("inputs")
        return value if isinstance(value, Mapping) else {}

    @property
    def output(self) -> object:
        """The logged normalised output (unchecked)."""
        return self.body.get("output")


def decisions(records: Sequence[StoredRecord]) -> list[Decision]:
    """Every controller decision of ``records``, in chain order."""
    return [
        Decision(i, s) for i, s in enumerate(records) if s.kind is RecordType.CONTROLLER_DECISION
    ]


def _decision_seq(stored: StoredRecord) -> int | None:
    value = stored.record.body.get("decision_seq")
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def closing_record(records: Sequence[StoredRecord], decision: Decision) -> StoredRecord | None:
    """The first later record that ends the decision's loop cycle, if there is one yet."""
    boot = decision.stored.record.boot_id
    for stored in records[decision.index + 1 :]:
        if stored.kind is RecordType.CONTROLLER_DECISION or stored.record.boot_id != boot:
            return stored
    return None


def commands_of(
    records: Sequence[StoredRecord], decision: Decision, until: StoredRecord | None = None
) -> tuple[list[StoredRecord], int]:
    """(commands naming the decision, count of all commands) after it, before ``until``."""
    boot, seq = decision.stored.record.boot_id, decision.stored.record.seq
    named: list[StoredRecord] = []
    total = 0
    for stored in records[decision.index + 1 :]:
        if until is not None and stored.record_hash == until.record_hash:
            break
        if stored.kind is not RecordType.ACTUATOR_COMMAND:
            continue
        total += 1
        if stored.record.boot_id == boot and _decision_seq(stored) == seq:
            named.append(stored)
    return named, total


def named_decision(
    records: Sequence[StoredRecord], index: int
) -> tuple[Decision | None, StoredRecord | None]:
    """For the command at ``index``: (the decision it names, or the other record it names).

    Both are None when the command names no seq or the named record is not in the window.
    """
    command = records[index]
    seq = _decision_seq(command)
    if seq is None:
        return None, None
    boot = command.record.boot_id
    for position in range(index - 1, -1, -1):
        stored = records[position]
        if stored.record.boot_id == boot and stored.record.seq == seq:
            if stored.kind is RecordType.CONTROLLER_DECISION:
                return Decision(position, stored), None
            return None, stored
    return None, None


def latest_reading_before(
    records: Sequence[StoredRecord], decision: Decision
) -> StoredRecord | None:
    """The latest ``sensor_reading`` before the decision in chain order."""
    for stored in reversed(records[: decision.index]):
        if stored.kind is RecordType.SENSOR_READING:
            return stored
    return None


def finite(value: object) -> float | None:
    """``value`` as a finite float, or None (bools are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
