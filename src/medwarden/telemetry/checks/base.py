"""The values every early-warning check shares, and the :class:`Check` protocol.

A check reads one device's accepted records in chain order (:class:`StoredRecord`: the
record, its chain hash and when the backend received it) and returns :class:`Candidate`
values.  The runner (:mod:`medwarden.telemetry.checks.runner`) decides which candidates
are *new* in this run and turns those into :class:`EarlyWarning` values carrying the
device context.

When a condition becomes decidable is what makes incremental runs exact.  A candidate
says so in one or both of two ways:

* ``decided_by`` -- the record whose acceptance establishes the condition (the latest
  record the decision needs).  The candidate is emitted in the run in which that record is
  new, and never again.
* ``due`` -- a server-clock instant after which the condition holds unless a record
  arrives to refute it (signal loss, an unconfirmed command).  The candidate is emitted
  by the first run whose ``now`` is past ``due``, unless a record decided it earlier.

A check must be *local*: a candidate decided by record ``r`` depends only on records
within the check's declared :class:`Lookback` of ``r``.  Checks never read the wall clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from medwarden.errors import InputError, UsageError
from medwarden.telemetry.envelope import record_hash
from medwarden.telemetry.records import DeviceRecord, RecordType

if TYPE_CHECKING:
    from medwarden.telemetry.checks.limits import DeviceLimits

__all__ = [
    "CHECK_ERROR",
    "Candidate",
    "Check",
    "CheckInput",
    "DeviceContext",
    "EarlyWarning",
    "Lookback",
    "RecordRef",
    "Severity",
    "StoredRecord",
    "minutes_text",
    "valid_check_id",
]

CHECK_ERROR = "check_error"
"""Warning code of a check that could not evaluate a record (fails closed)."""

_HEX64 = re.compile(r"[0-9a-f]{64}")
_CHECK_ID = re.compile(r"[a-z][a-z0-9_.]{0,63}")


class Severity(StrEnum):
    """How urgently a person should look at a warning, lowest first."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for ``info`` up to 4 for ``critical``."""
        return list(Severity).index(self)


def _aware_utc(value: object, name: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise UsageError(f"{name} must be a timezone-aware datetime, not {value!r}")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True, order=True)
class RecordRef:
    """Names exactly one record of a device: its boot, sequence number and chain hash."""

    boot_id: str
    seq: int
    record_hash: str


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """An accepted record as the checks see it: the record, its hash and its receipt time."""

    record: DeviceRecord
    record_hash: str
    received_at: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.record, DeviceRecord):
            raise UsageError("a stored record needs a DeviceRecord")
        if not isinstance(self.record_hash, str) or not _HEX64.fullmatch(self.record_hash):
            raise UsageError(f"record_hash must be 64 lowercase hex digits: {self.record_hash!r}")
        object.__setattr__(self, "received_at", _aware_utc(self.received_at, "received_at"))

    @classmethod
    def of(cls, record: DeviceRecord, received_at: datetime) -> StoredRecord:
        """Wrap ``record``, computing its chain hash."""
        return cls(record, record_hash(record), received_at)

    @property
    def ref(self) -> RecordRef:
        """The reference a warning names this record by."""
        return RecordRef(self.record.boot_id, self.record.seq, self.record_hash)

    @property
    def kind(self) -> RecordType:
        """The record's type."""
        return self.record.record_type

    @property
    def time(self) -> datetime:
        """The record's device time (UTC)."""
        return self.record.device_time

    def label(self) -> str:
        """A short text naming the record, for warning details."""
        return f"{self.kind.value} seq {self.record.seq} of boot {self.record.boot_id}"


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """Who the records come from: the device, its model and software, the patient's pseudonym."""

    device_id: str
    model: str
    software_version: str
    patient_ref: str

    def __post_init__(self) -> None:
        for name in ("device_id", "model", "software_version", "patient_ref"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"device context {name} must be non-empty text, not {value!r}")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A condition a check found, before the runner decides whether it is new in this run."""

    code: str
    severity: Severity
    evidence: tuple[StoredRecord, ...]
    detail: str
    decided_by: StoredRecord | None = None
    due: datetime | None = None

    def __post_init__(self) -> None:
        if not self.evidence:
            raise UsageError(f"candidate {self.code!r} names no record")
        if self.decided_by is None and self.due is None:
            raise UsageError(f"candidate {self.code!r} needs decided_by or due")
        if self.due is not None:
            object.__setattr__(self, "due", _aware_utc(self.due, "due"))
        object.__setattr__(self, "severity", Severity(self.severity))


@dataclass(frozen=True, slots=True)
class EarlyWarning:
    """One early warning about one device, naming the exact records it is about.

    ``at`` is the server-clock instant the condition was established: its ``due`` time
    for a time-based condition, otherwise the receipt time of the deciding record.
    """

    check_id: str
    code: str
    severity: Severity
    device_id: str
    patient_ref: str
    software_version: str
    evidence: tuple[RecordRef, ...]
    detail: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Lookback:
    """How much history before a new batch a check needs to judge the batch exactly.

    The store supplies the union of: the last ``records`` records before the batch, every
    record whose device time is at most ``duration`` before the batch's earliest record,
    and the latest earlier record of each type in ``last_of``.
    """

    records: int = 0
    duration: timedelta = timedelta(0)
    last_of: frozenset[RecordType] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.records < 0 or self.duration < timedelta(0):
            raise UsageError("a look-back cannot be negative")

    def union(self, other: Lookback) -> Lookback:
        """Return the smallest look-back covering both."""
        return Lookback(
            max(self.records, other.records),
            max(self.duration, other.duration),
            self.last_of | other.last_of,
        )

    def select(
        self, history: Sequence[StoredRecord], new: Sequence[StoredRecord]
    ) -> tuple[StoredRecord, ...]:
        """Return the records of ``history`` (chain order) this look-back asks for.

        Without new records (a run for time-based conditions only) the duration is
        counted back from the latest record of ``history``.
        """
        if not history:
            return ()
        reference = min(s.time for s in new) if new else max(s.time for s in history)
        start = reference - self.duration
        keep = set(range(max(0, len(history) - self.records), len(history)))
        keep.update(i for i, s in enumerate(history) if s.time >= start)
        for kind in self.last_of:
            keep.update(_last_index(history, kind))
        return tuple(history[i] for i in sorted(keep))


def _last_index(history: Sequence[StoredRecord], kind: RecordType) -> list[int]:
    for i in range(len(history) - 1, -1, -1):
        if history[i].kind is kind:
            return [i]
    return []


@dataclass(frozen=True, slots=True)
class CheckInput:
    """What a check reads: the device, its model's limits, the records and the run's time."""

    context: DeviceContext
    limits: DeviceLimits
    records: tuple[StoredRecord, ...]
    now: datetime

    def after(self, index: int) -> Iterable[StoredRecord]:
        """The records after position ``index``, in chain order."""
        return self.records[index + 1 :]


class Check(Protocol):
    """One early-warning check: a pure function of a device's records and limits."""

    @property
    def check_id(self) -> str:
        """Stable id, lowercase ``[a-z][a-z0-9_.]*`` (the registry key)."""
        ...

    def lookback(self, limits: DeviceLimits) -> Lookback:
        """The history this check needs before a new batch to judge it exactly."""
        ...

    def evaluate(self, data: CheckInput) -> Iterable[Candidate]:
        """Return every candidate found in ``data.records`` (the runner filters new ones)."""
        ...


def minutes_text(delta: timedelta) -> str:
    """Return ``delta`` as a short text in minutes, for warning details."""
    return f"{delta.total_seconds() / 60:g} min"


def valid_check_id(check_id: object) -> str:
    """Return ``check_id`` when it is a valid check id; raise :class:`UsageError` otherwise."""
    if not isinstance(check_id, str) or not _CHECK_ID.fullmatch(check_id):
        raise UsageError(f"check id must match [a-z][a-z0-9_.]{{0,63}}, not {check_id!r}")
    return check_id
