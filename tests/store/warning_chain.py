"""Builders for early-warning tests: a registered device and the signed chain it sends.

The chain is what a closed loop logs (sensor readings, controller decisions of the
in-process reference controller, commands naming them, confirmations), signed with the
device key and ingested through :func:`~medwarden.services.telemetry.ingest_batch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medwarden.core.clock import FixedClock
from medwarden.services.telemetry import ingest_batch, register_device
from medwarden.store import SqlStore
from medwarden.telemetry.controllers.inprocess import ProportionalBasalController
from medwarden.telemetry.devices import DeviceRegistration, key_id, public_key_to_bytes
from medwarden.telemetry.envelope import record_hash, sign_record
from medwarden.telemetry.receipts import ReceiptSigner
from medwarden.telemetry.records import GENESIS, DeviceRecord, RecordType

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SERVER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
SIGNER = ReceiptSigner(SERVER, key_id(public_key_to_bytes(SERVER.public_key())))
PROP = ProportionalBasalController()
PROFILE = {
    "current_basal": 1.0,
    "max_basal": 3.0,
    "max_iob": 3.0,
    "min_bg": 100,
    "max_bg": 120,
    "sens": 50,
}


def at(minute: float) -> datetime:
    """``minute`` minutes after T0."""
    return T0 + timedelta(minutes=minute)


def loop_inputs(glucose: float) -> dict[str, Any]:
    """A decision's input tuple for the reference controller (and the safety envelope)."""
    return {
        "glucose_status": {"glucose": glucose, "delta": 0, "short_avgdelta": 0},
        "iob_data": {"iob": 0.5, "activity": 0.01},
        "profile": dict(PROFILE),
        "currenttemp": {"rate": 0, "duration": 0, "temp": "absolute"},
    }


def decided(glucose: float) -> dict[str, Any]:
    """The reference controller's output for ``glucose`` (without ``raw``)."""
    out = dict(PROP.decide(loop_inputs(glucose)))
    out.pop("raw")
    return out


def register(
    store: SqlStore, device_id: str = "pump-1", *, version: str = "2.1.0"
) -> Ed25519PrivateKey:
    """Register ``device_id`` (model pump-x, patient P-001) and enroll a new key."""
    if "pump-x" not in {d.model for d in store.devices.all()}:
        store.devices.set_model("pump-x", {}, at=T0, actor="test")
    reg = DeviceRegistration(device_id, "pump-x", f"SN-{device_id}", version, patient_ref="P-001")
    register_device(store.devices, reg, clock=FixedClock(T0), actor="test")
    key = Ed25519PrivateKey.generate()
    store.devices.enroll_key(device_id, public_key_to_bytes(key.public_key()), at=T0, actor="t")
    return key


class Chain:
    """A device's signed chain under construction; times are minutes after T0."""

    def __init__(self, key: Ed25519PrivateKey, device_id: str = "pump-1", boot: str = "b1") -> None:
        self.key, self.device_id, self.boot = key, device_id, boot
        self.seq, self.prev = 0, GENESIS
        self.pending: list[dict[str, Any]] = []
        self.records: list[DeviceRecord] = []

    def add(self, record_type: RecordType, body: dict[str, Any], minute: float) -> DeviceRecord:
        """Sign and queue one record; return it."""
        rec = DeviceRecord(
            self.device_id, self.boot, self.seq, at(minute), self.prev, record_type, body
        )
        self.pending.append(sign_record(self.key, rec).to_json())
        self.records.append(rec)
        self.seq, self.prev = self.seq + 1, record_hash(rec)
        return rec

    def sensor(self, minute: float, glucose: float) -> DeviceRecord:
        return self.add(RecordType.SENSOR_READING, {"glucose_mg_dl": glucose}, minute)

    def decision(
        self, minute: float, glucose: float, output: dict[str, Any] | None = None
    ) -> DeviceRecord:
        body = {
            "algorithm": PROP.algorithm,
            "algorithm_version": PROP.version,
            "inputs": loop_inputs(glucose),
            "output": output if output is not None else decided(glucose),
        }
        return self.add(RecordType.CONTROLLER_DECISION, body, minute)

    def temp(self, minute: float, decision: DeviceRecord, rate: float, cid: str) -> DeviceRecord:
        body = {
            "command_id": cid,
            "kind": "temp_basal",
            "rate_u_h": rate,
            "duration_min": 30,
            "decision_seq": decision.seq,
        }
        return self.add(RecordType.ACTUATOR_COMMAND, body, minute)

    def confirm(self, minute: float, cid: str, rate: float) -> DeviceRecord:
        body = {"command_id": cid, "status": "delivered", "rate_u_h": rate}
        return self.add(RecordType.ACTUATOR_CONFIRMATION, body, minute)

    def cycle(self, minute: float, glucose: float, cid: str) -> DeviceRecord:
        """A faithful loop cycle (reading, decision, command, confirmation); the decision."""
        self.sensor(minute, glucose)
        made = self.decision(minute + 0.5, glucose)
        rate = decided(glucose)["rate_u_h"]
        self.temp(minute + 1, made, rate, cid)
        self.confirm(minute + 1.5, cid, rate)
        return made

    def send(self, store: SqlStore, minute: float) -> Sequence[Any]:
        """Ingest the queued records, received at ``minute``."""
        items, self.pending = self.pending, []
        results = ingest_batch(
            store.ledger,
            SIGNER,
            self.device_id,
            items,
            clock=FixedClock(at(minute)),
            transport="https",
        )
        assert [r.status for r in results] == ["accepted"] * len(items)
        return results
