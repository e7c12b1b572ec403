"""An in-memory ingest port over the real planner, for simulator tests and offline runs.

:class:`MemoryBackend` is an :data:`~medwarden.ingest.ports.IngestPort`: it keeps each
registered device's key, chain state, ledger frontier and stored records in memory, plans
every batch with :func:`medwarden.telemetry.ingest.plan_batch` (the same classification
the stored backend uses) and answers signed receipts.  Its clock is the simulated one
(``clock()``), so that clock-window checks compare device time with simulated receipt
time.  It keeps every security event, which a test compares with a fleet's ground truth.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from medwarden.errors import AuthenticationError
from medwarden.telemetry.chain import ChainState
from medwarden.telemetry.devices import DeviceKey, KeyState, key_id, public_key_to_bytes
from medwarden.telemetry.envelope import SignedRecord
from medwarden.telemetry.ingest import (
    AcceptedRecord,
    BatchContext,
    SecurityEvent,
    parse_items,
    plan_batch,
)
from medwarden.telemetry.ledger.merkle import MerkleAccumulator
from medwarden.telemetry.receipts import IngestResult, Receipt, sign_receipt
from medwarden.telemetry.records import JsonObject
from medwarden.testing.fleet.faults import GroundTruth

__all__ = ["DeviceEvent", "MemoryBackend", "compare_truth"]


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """A security event of one device, as the backend raised it."""

    device_id: str
    event: SecurityEvent


@dataclass(slots=True)
class _Device:
    keys: list[DeviceKey]
    state: ChainState | None = None
    frontier: MerkleAccumulator = field(default_factory=MerkleAccumulator)
    by_slot: dict[tuple[str, int], str] = field(default_factory=dict)
    boots: set[str] = field(default_factory=set)
    receipts: dict[str, Receipt] = field(default_factory=dict)
    records: list[SignedRecord] = field(default_factory=list)


class MemoryBackend:
    """``backend(device_id, envelopes) -> results``; see the module docstring."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        window: timedelta = timedelta(minutes=15),
        receipt_key: Ed25519PrivateKey | None = None,
    ) -> None:
        self.clock = clock
        self.window = window
        self._key = receipt_key or Ed25519PrivateKey.from_private_bytes(
            hashlib.sha256(b"medwarden-sim-receipts").digest()
        )
        self._key_id = key_id(public_key_to_bytes(self._key.public_key()))
        self._devices: dict[str, _Device] = {}
        self.events: list[DeviceEvent] = []
        self.batches = 0

    @property
    def receipt_public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def register(self, device_id: str, public_key: Ed25519PublicKey, enrolled_at: datetime) -> None:
        """Enrol a device's key (active from ``enrolled_at``)."""
        raw = public_key_to_bytes(public_key)
        key = DeviceKey(key_id(raw), raw, KeyState.ACTIVE, enrolled_at)
        self._devices[device_id] = _Device(keys=[key])

    def records(self, device_id: str) -> list[SignedRecord]:
        """The device's stored records, in the order they were accepted."""
        return list(self._devices[device_id].records)

    def __call__(self, device_id: str, envelopes: Sequence[object]) -> list[IngestResult]:
        dev = self._devices.get(device_id)
        if dev is None:
            raise AuthenticationError(f"unknown device {device_id}")
        self.batches += 1
        received_at = self.clock()
        ctx = BatchContext(
            device_id=device_id,
            keys=dev.keys,
            state=dev.state,
            frontier=dev.frontier,
            stored_by_hash=dev.receipts,
            stored_by_slot=dev.by_slot,
            known_boots=frozenset(dev.boots),
            received_at=received_at,
            window=self.window,
        )
        plan = plan_batch(ctx, parse_items(envelopes))
        results: dict[int, IngestResult] = {}
        for acc in plan.accepted:
            receipt = self._receipt(device_id, acc, received_at)
            rec = acc.signed.record
            dev.by_slot[(rec.boot_id, rec.seq)] = acc.record_hash
            dev.boots.add(rec.boot_id)
            dev.receipts[acc.record_hash] = receipt
            dev.records.append(acc.signed)
            results[acc.index] = IngestResult(acc.index, "accepted", receipt)
        for index, dup in plan.duplicates.items():
            results[index] = IngestResult(index, "duplicate", dev.receipts[dup.record_hash])
        for rej in plan.rejected:
            results[rej.index] = IngestResult(
                rej.index, "rejected", None, rej.error_code, rej.detail
            )
        dev.state = plan.state
        dev.frontier = plan.frontier
        self.events.extend(DeviceEvent(device_id, e) for e in plan.events)
        return [results[i] for i in sorted(results)]

    def _receipt(self, device_id: str, acc: AcceptedRecord, received_at: datetime) -> Receipt:
        rec = acc.signed.record
        unsigned = Receipt(
            device_id=device_id,
            boot_id=rec.boot_id,
            seq=rec.seq,
            record_hash=acc.record_hash,
            outcome=acc.outcome.value,
            ledger_index=acc.ledger_index,
            received_at=received_at,
            key_id=self._key_id,
        )
        return sign_receipt(self._key, unsigned)


def _event_key(device_id: str, e: SecurityEvent) -> tuple[object, ...]:
    return (device_id, e.kind, e.boot_id, e.seq, e.record_hash)


def compare_truth(truth: Iterable[GroundTruth], events: Iterable[DeviceEvent]) -> JsonObject:
    """Match the security entries of a ground truth with a backend's security events.

    An entry matches an event of the same kind naming the same device, boot, seq and
    record hash.  Returns counts and the unmatched on both sides (``new_boot`` events of
    planned restarts are in the truth too; warnings and outcomes are not events here).
    """
    expected = {
        (t.device_id, t.expected, t.boot_id, t.seq, t.record_hash): t
        for t in truth
        if t.category == "security"
    }
    seen = {_event_key(d.device_id, d.event): d for d in events}
    missed = sorted(k for k in expected if k not in seen)
    unexpected = sorted(k for k in seen if k not in expected)
    return {
        "expected": len(expected),
        "raised": len(seen),
        "matched": len(expected) - len(missed),
        "missed": [list(map(str, k)) for k in missed],
        "unexpected": [list(map(str, k)) for k in unexpected],
    }
