"""The fault hooks, their context and the ground truth a fault reports (see :mod:`.faults`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from medwarden.errors import UsageError
from medwarden.telemetry.records import DeviceRecord, JsonObject, RecordType

if TYPE_CHECKING:
    from medwarden.testing.fleet.device import Pending

__all__ = ["Edit", "Fault", "FaultContext", "GroundTruth", "Transmission", "make_truth"]


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """One event a correct backend must raise, naming one record."""

    device_id: str
    fault: str
    boot_id: str
    seq: int
    record_hash: str
    expected: str
    """Event kind: a security event (``bad_signature``, ``gap``, ``reorder``,
    ``clock_outside_window``, ``time_backwards``, ``new_boot``), a warning
    (``dose_mismatch``, ``sensor_mismatch``, ``decision_mismatch``,
    ``sensor_compression_low``, ``sensor_dropout``) or an outcome (``duplicate``)."""
    category: str
    """``security``, ``warning`` or ``outcome``."""
    cycle: int
    detail: str = ""
    primary: bool = True
    """False for a consequence of another entry (a gap a rejected record leaves)."""
    missing: tuple[int, int] | None = None

    def to_json(self) -> JsonObject:
        """A JSON object (one line of a ground-truth file)."""
        out: JsonObject = {
            "device_id": self.device_id,
            "fault": self.fault,
            "boot_id": self.boot_id,
            "seq": self.seq,
            "record_hash": self.record_hash,
            "expected": self.expected,
            "category": self.category,
            "cycle": self.cycle,
            "detail": self.detail,
            "primary": self.primary,
        }
        if self.missing is not None:
            out["missing"] = list(self.missing)
        return out


@dataclass(frozen=True, slots=True)
class Transmission:
    """One envelope of a transmission: its bytes and the outbox entry it delivers.

    ``pending`` is None for envelopes an attacker adds (a replay); their results are
    ignored by the device.
    """

    payload: bytes
    pending: Pending | None


@dataclass(frozen=True, slots=True)
class Edit:
    """What an on-device fault did to a record body before signing."""

    body: JsonObject
    expected: str
    category: str
    detail: str
    primary: bool = True


@dataclass(slots=True)
class FaultContext:
    """What a fault may see and do during one cycle of one device."""

    device_id: str
    boot_id: str
    cycle: int
    now: datetime
    """Simulated true time at the start of the cycle."""
    report: Callable[[GroundTruth], None]
    forget: Callable[[Pending], None]
    """Drop an outbox entry for good (the device lost it)."""


def make_truth(
    ctx: FaultContext,
    fault: str,
    record: DeviceRecord,
    record_hash: str,
    expected: str,
    category: str,
    detail: str,
    *,
    primary: bool = True,
    missing: tuple[int, int] | None = None,
) -> GroundTruth:
    return GroundTruth(
        device_id=record.device_id,
        fault=fault,
        boot_id=record.boot_id,
        seq=record.seq,
        record_hash=record_hash,
        expected=expected,
        category=category,
        cycle=ctx.cycle,
        detail=detail,
        primary=primary,
        missing=missing,
    )


class Fault:
    """Base injector: every hook changes nothing.  Subclasses set ``kind`` and ``cycle``."""

    kind: ClassVar[str] = "none"

    def __init__(self, cycle: int) -> None:
        if cycle < 0:
            raise UsageError(f"a fault's cycle must be >= 0, not {cycle}")
        self.cycle = cycle
        self.fired = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cycle={self.cycle})"

    def reading(self, ctx: FaultContext, glucose: float | None) -> float | None:
        """The sensor value the device reads (None: no reading this cycle)."""
        return glucose

    def clock_offset(self, ctx: FaultContext) -> timedelta:
        """How far the device clock is off during this cycle."""
        return timedelta(0)

    def edit(self, ctx: FaultContext, record_type: RecordType, body: JsonObject) -> Edit | None:
        """Alter a record's body on the device before signing (None: leave it)."""
        return None

    def transmit(self, ctx: FaultContext, items: list[Transmission]) -> list[Transmission]:
        """Alter one transmission after signing."""
        return items


# ---- sensor layer ------------------------------------------------------------------------
