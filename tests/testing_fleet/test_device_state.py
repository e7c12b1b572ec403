"""A simulated device's persisted state reads back as it was written."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medwarden.errors import UsageError
from medwarden.telemetry.envelope import sign_record
from medwarden.telemetry.records import GENESIS, DeviceRecord, RecordType
from medwarden.testing.fleet.device_parts import Pending
from medwarden.testing.fleet.device_state import Chain, Histories, PumpState, Saved, load, save

AT = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _saved() -> Saved:
    record = DeviceRecord("pump-1", "b1", 7, AT, GENESIS, RecordType.SENSOR_READING, {"g": 1})
    signed = sign_record(Ed25519PrivateKey.generate(), record)
    pending = Pending(signed, signed.to_wire(), 41, attempts=2, late_fault="reorder")
    return Saved(
        cycle=12,
        chain=Chain(1, "b1", 8, "ab" * 32, made=42, last_acked=(40, "b1", 6, "cd" * 32)),
        outbox=[pending],
        pump=PumpState(temp_rate=0.4, temp_start=AT, temp_minutes=30, reservoir_u=150.5),
        history=Histories([{"glucose": 110}], [{"rate": 0.4}], []),
        low_alarm=True,
    )


def test_saved_state_reads_back_whole_through_json() -> None:
    saved = _saved()
    back = load(json.loads(json.dumps(save("pump-1", saved))), "pump-1")
    assert back.cycle == saved.cycle
    assert back.chain == saved.chain
    assert back.pump == saved.pump
    assert back.history == saved.history
    assert back.low_alarm is True
    (pending,) = back.outbox
    original = saved.outbox[0]
    assert pending.wire == original.wire
    assert pending.signed.hash == original.signed.hash
    assert (pending.position, pending.attempts, pending.late_fault) == (41, 2, "reorder")


def test_another_devices_state_is_refused() -> None:
    with pytest.raises(UsageError, match="pump-1"):
        load(save("pump-1", _saved()), "pump-2")
