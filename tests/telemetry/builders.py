"""Shared builders for telemetry tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from medwarden.telemetry.envelope import record_hash
from medwarden.telemetry.records import GENESIS, DeviceRecord, RecordType

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def make_record(
    seq: int = 0,
    *,
    prev_hash: str = GENESIS,
    boot_id: str = "boot-1",
    device_id: str = "dev-1",
    at: datetime | None = None,
    record_type: RecordType = RecordType.SENSOR_READING,
    body: dict[str, Any] | None = None,
) -> DeviceRecord:
    return DeviceRecord(
        device_id=device_id,
        boot_id=boot_id,
        seq=seq,
        device_time=at if at is not None else T0 + timedelta(minutes=5 * seq),
        prev_hash=prev_hash,
        record_type=record_type,
        body=body if body is not None else {"glucose_mg_dl": 100 + seq, "unit": "mg/dL"},
    )


def make_chain(n: int, *, boot_id: str = "boot-1", start_prev: str = GENESIS) -> list[DeviceRecord]:
    out: list[DeviceRecord] = []
    prev = start_prev
    for seq in range(n):
        rec = make_record(seq, prev_hash=prev, boot_id=boot_id)
        out.append(rec)
        prev = record_hash(rec)
    return out
