"""Builders for check tests: a device trace that chains records and stamps receipt times."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from medwarden.telemetry.checks import (
    Check,
    CheckRegistry,
    DeviceContext,
    DeviceLimits,
    EarlyWarning,
    StoredRecord,
    run_checks,
)
from medwarden.telemetry.envelope import record_hash
from medwarden.telemetry.records import GENESIS, DeviceRecord, RecordType
from tests.telemetry.builders import T0

CONTEXT = DeviceContext("dev-1", "pump-x", "2.4.1", "pt-7f3a")
DELAY = timedelta(seconds=30)


class Trace:
    """A device's chain under construction; times are minutes after ``T0``."""

    def __init__(self, *, boot_id: str = "boot-1", delay: timedelta = DELAY) -> None:
        self.records: list[StoredRecord] = []
        self.boot_id = boot_id
        self.delay = delay
        self._seq = 0
        self._prev = GENESIS

    def add(
        self,
        record_type: RecordType,
        body: dict[str, Any],
        minute: float,
        *,
        received: float | None = None,
        seq: int | None = None,
        boot_id: str | None = None,
    ) -> StoredRecord:
        """Append a record at ``minute`` (device time), received ``delay`` later by default."""
        if boot_id is not None and boot_id != self.boot_id:
            self.boot_id, self._seq = boot_id, 0
        if seq is not None:
            self._seq = seq
        at = T0 + timedelta(minutes=minute)
        record = DeviceRecord("dev-1", self.boot_id, self._seq, at, self._prev, record_type, body)
        got = at + self.delay if received is None else T0 + timedelta(minutes=received)
        stored = StoredRecord(record, record_hash(record), got)
        self.records.append(stored)
        self._seq += 1
        self._prev = stored.record_hash
        return stored

    def sensor(self, minute: float, glucose: float, **extra: Any) -> StoredRecord:
        return self.add(RecordType.SENSOR_READING, {"glucose_mg_dl": glucose, **extra}, minute)

    def sensors(
        self, values: Iterable[float], *, start: float = 0, step: float = 5
    ) -> list[StoredRecord]:
        return [self.sensor(start + i * step, g) for i, g in enumerate(values)]

    def command(self, minute: float, command_id: str, kind: str, **extra: Any) -> StoredRecord:
        body = {"command_id": command_id, "kind": kind, **extra}
        return self.add(RecordType.ACTUATOR_COMMAND, body, minute)

    def confirm(
        self, minute: float, command_id: str, status: str = "delivered", **extra: Any
    ) -> StoredRecord:
        body = {"command_id": command_id, "status": status, **extra}
        return self.add(RecordType.ACTUATOR_CONFIRMATION, body, minute)

    def event(self, minute: float, record_type: RecordType, **body: Any) -> StoredRecord:
        return self.add(record_type, dict(body), minute)


def registry(*checks: Check) -> CheckRegistry:
    return CheckRegistry(checks)


def run(
    check: Check,
    records: Sequence[StoredRecord],
    *,
    limits: DeviceLimits | None = None,
    now: datetime | None = None,
    new: Iterable[StoredRecord] | None = None,
    previous_run: datetime | None = None,
) -> tuple[EarlyWarning, ...]:
    """Run one check; ``now`` defaults to the last receipt (no time-based condition due)."""
    when = now if now is not None else max(s.received_at for s in records)
    return run_checks(
        CONTEXT,
        limits or DeviceLimits(),
        records,
        now=when,
        new=None if new is None else [s.record_hash for s in new],
        previous_run=previous_run,
        registry=registry(check),
    )


def codes(warnings: Iterable[EarlyWarning]) -> list[str]:
    return [w.code for w in warnings]


def named(warning: EarlyWarning) -> list[int]:
    """The seqs of the records a warning names."""
    return [ref.seq for ref in warning.evidence]


def refs(*stored: StoredRecord) -> tuple[Any, ...]:
    return tuple(s.ref for s in stored)


def minutes(value: float) -> datetime:
    return T0 + timedelta(minutes=value)


def td(value: float) -> timedelta:
    """``value`` minutes as a duration."""
    return timedelta(minutes=value)


def by_code(warnings: Iterable[EarlyWarning], code: str) -> list[EarlyWarning]:
    return [w for w in warnings if w.code == code]
