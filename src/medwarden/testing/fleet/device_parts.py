"""What a simulated device deals with: its patient and transport (Protocols), its seeded key
and boot ids, the records it has not had acknowledged, and its counters."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medwarden.telemetry.envelope import SignedRecord
from medwarden.telemetry.receipts import IngestResult
from medwarden.telemetry.records import JsonObject

__all__ = [
    "CycleReport",
    "DeviceStats",
    "Patient",
    "Pending",
    "Transport",
    "boot_id_for",
    "device_key",
]


class Patient(Protocol):
    """What the device needs of its patient (:class:`~.physiology.VirtualPatient`)."""

    @property
    def sensor_id(self) -> str: ...

    def cgm(self) -> float: ...

    def pump_rate(self, rate_u_h: float) -> float: ...

    def pump_bolus(self, units: float) -> float: ...

    def eat(self, carbs_g: float) -> None: ...

    def step(self, minutes: int, *, basal_u_h: float, bolus_u: float = 0.0) -> None: ...


class Transport(Protocol):
    """Sends envelopes (wire bytes) of one device; one result per envelope, in order."""

    def send(self, device_id: str, envelopes: Sequence[bytes]) -> Sequence[IngestResult]: ...

    def close(self) -> None: ...


def device_key(seed: int, device_id: str) -> Ed25519PrivateKey:
    """The device's Ed25519 key, derived from the fleet seed (simulation only)."""
    digest = hashlib.sha256(f"medwarden-sim-key\x00{seed}\x00{device_id}".encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(digest)


def boot_id_for(seed: int, device_id: str, boot_count: int) -> str:
    """A boot id that is unique per device and boot, and deterministic."""
    digest = hashlib.sha256(f"medwarden-sim-boot\x00{seed}\x00{device_id}\x00{boot_count}".encode())
    return f"b{boot_count}-{digest.hexdigest()[:12]}"


@dataclass(slots=True, eq=False)
class Pending:
    """A signed record in the outbox: the exact bytes sent on every attempt (identity eq)."""

    signed: SignedRecord
    wire: bytes
    position: int
    """Index of the record in the device's whole chain (0 = its first record ever)."""
    attempts: int = 0
    late_fault: str | None = None
    """Set by a transit fault whose substitute left a gap: the genuine retry is a reorder."""


@dataclass(slots=True)
class DeviceStats:
    """Counts of one device's life."""

    cycles: int = 0
    records: int = 0
    sent: int = 0
    acknowledged: int = 0
    retried: int = 0
    abandoned: int = 0
    decisions: int = 0
    commands: int = 0
    boots: int = 0
    controller_errors: int = 0

    def to_json(self) -> JsonObject:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one cycle made and sent."""

    cycle: int
    records: tuple[SignedRecord, ...]
    sent: int
    acknowledged: int
    glucose_mg_dl: float | None
