"""Signed device chains for timeline tests: real Ed25519 signatures, real hash links."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medwarden.telemetry.envelope import record_hash, sign_record
from medwarden.telemetry.records import GENESIS, DeviceRecord, RecordType
from medwarden.telemetry.timeline import DeviceDescription, TimelineRecord
from tests.telemetry.builders import T0

DEVICE_ID = "pump-7"


def description(device_id: str = DEVICE_ID) -> DeviceDescription:
    """A device description with a pseudonymous patient reference."""
    return DeviceDescription(
        device_id=device_id,
        model="OpenPump X2",
        serial="SN-000123",
        software_version="2.4.1",
        firmware_version="fw-1.9.0",
        controller_algorithm="oref0-determine-basal",
        controller_version="0.7.1",
        patient_ref="pt-5f3a9c",
    )


@dataclass
class Chain:
    """Appends signed records to one device's chain, as the device would."""

    device_id: str = DEVICE_ID
    seed: int = 7
    boot_id: str = "boot-a"
    prev: str = GENESIS
    seq: int = 0
    at: datetime = T0
    ledger: int = 0
    stored: list[TimelineRecord] = field(default_factory=list)
    key: Ed25519PrivateKey = field(init=False)

    def __post_init__(self) -> None:
        self.key = Ed25519PrivateKey.from_private_bytes(bytes([self.seed]) * 32)

    def reboot(self, boot_id: str, *, clock: datetime | None = None) -> None:
        """Start a new boot; its seq 0 will name the last record made."""
        self.boot_id, self.seq = boot_id, 0
        if clock is not None:
            self.at = clock

    def add(
        self,
        record_type: RecordType,
        body: dict[str, Any],
        *,
        store: bool = True,
        prev_hash: str | None = None,
        minutes: float = 1,
        inclusion_verified: bool = True,
    ) -> TimelineRecord:
        """Make, sign and (unless ``store`` is False) keep the next record."""
        self.at += timedelta(minutes=minutes)
        record = DeviceRecord(
            device_id=self.device_id,
            boot_id=self.boot_id,
            seq=self.seq,
            device_time=self.at,
            prev_hash=self.prev if prev_hash is None else prev_hash,
            record_type=record_type,
            body=body,
        )
        signed = sign_record(self.key, record)
        item = TimelineRecord(
            record=record,
            record_hash=record_hash(record),
            ledger_index=self.ledger,
            received_at=self.at + timedelta(seconds=3),
            inclusion_verified=inclusion_verified,
            signature=signed.signature,
        )
        self.prev = record_hash(record)
        self.seq += 1
        if store:
            self.ledger += 1
            self.stored.append(item)
        return item

    def reading(self, glucose: float = 120, **kw: Any) -> TimelineRecord:
        quality = kw.pop("quality", "ok")
        body = {"glucose_mg_dl": glucose, "sensor_id": "cgm-1", "quality": quality}
        return self.add(RecordType.SENSOR_READING, body, **kw)

    def decision(self, rate: float | None = 1.2, smb: float = 0, **kw: Any) -> TimelineRecord:
        body = {
            "algorithm": "oref0-determine-basal",
            "algorithm_version": "0.7.1",
            "inputs": {"glucose_status": {"glucose": 120}},
            "output": {
                "rate_u_h": rate,
                "duration_min": 30 if rate is not None else None,
                "smb_u": smb,
            },
        }
        return self.add(RecordType.CONTROLLER_DECISION, body, **kw)

    def command(
        self,
        command_id: str,
        decision: TimelineRecord | int | None,
        kind: str = "temp_basal",
        **kw: Any,
    ) -> TimelineRecord:
        body: dict[str, Any] = {"command_id": command_id, "kind": kind}
        if isinstance(decision, TimelineRecord):
            body["decision_seq"] = decision.record.seq
        elif decision is not None:
            body["decision_seq"] = decision
        if kind == "temp_basal":
            body.update(rate_u_h=1.2, duration_min=30)
        elif kind == "bolus":
            body["units"] = 0.5
        return self.add(RecordType.ACTUATOR_COMMAND, body, **kw)

    def confirm(self, command_id: str, status: str = "delivered", **kw: Any) -> TimelineRecord:
        body: dict[str, Any] = {"command_id": command_id, "status": status}
        extra = kw.pop("body", {})
        body.update(extra)
        return self.add(RecordType.ACTUATOR_CONFIRMATION, body, **kw)

    def event(self, record_type: RecordType, body: dict[str, Any], **kw: Any) -> TimelineRecord:
        return self.add(record_type, body, **kw)

    def loop(self, n: int, glucose: float = 120, kind: str = "temp_basal") -> None:
        """A complete loop: reading, decision, command, delivered confirmation."""
        self.reading(glucose)
        dec = self.decision(
            rate=1.0 if kind == "temp_basal" else None, smb=0.5 if kind == "bolus" else 0
        )
        self.command(f"c-{n}", dec, kind=kind)
        extra = {"delivered_u": 0.5} if kind == "bolus" else {"rate_u_h": 1.0}
        self.confirm(f"c-{n}", body=extra)


def tamper(item: TimelineRecord, **changes: Any) -> TimelineRecord:
    """The same stored record with fields of its DeviceRecord changed (hash left stale)."""
    return replace(item, record=replace(item.record, **changes))
