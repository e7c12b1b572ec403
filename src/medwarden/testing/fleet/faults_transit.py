"""Faults in transit, after signing: altered bytes, forged signatures, replays, loss, order."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medwarden.core.digests import canonical_json
from medwarden.errors import UsageError
from medwarden.telemetry.envelope import SignedRecord, parse_envelope, sign_record
from medwarden.telemetry.records import DeviceRecord, JsonObject, RecordType

if TYPE_CHECKING:
    pass
from medwarden.testing.fleet.fault_base import Fault, FaultContext, Transmission, make_truth

__all__ = [
    "DropRecords",
    "ForgedSignature",
    "ReorderRecords",
    "Replay",
    "TransitDoseTamper",
    "TransitSensorTamper",
]


def _altered(payload: bytes, mutate: Callable[[JsonObject], None]) -> tuple[bytes, SignedRecord]:
    obj = orjson.loads(payload)
    mutate(obj["record"]["body"])
    data = canonical_json(obj)
    return data, parse_envelope(data)


def _consequences(ctx: FaultContext, fault: str, items: list[Transmission], index: int) -> None:
    """A record rejected at ``index`` leaves a gap at its successor (sent after it).

    The device reports the ``reorder`` that fills the gap itself, when (and only if) it
    re-sends the genuine bytes: a sink that acknowledged the altered envelope gets no retry.
    """
    original = items[index].pending
    if original is None or index + 1 >= len(items):
        return
    nxt = items[index + 1].pending
    if nxt is None:
        return
    rec = original.signed.record
    nrec = nxt.signed.record
    if nrec.boot_id != rec.boot_id or nrec.seq != rec.seq + 1:
        return
    ctx.report(
        make_truth(
            ctx,
            fault,
            nrec,
            nxt.signed.hash,
            "gap",
            "security",
            f"record {rec.seq} was rejected in this transmission",
            primary=False,
            missing=(rec.seq, rec.seq),
        )
    )
    original.late_fault = fault


class _TransitSubstitution(Fault, ABC):
    """Replace the first matching envelope at or after ``cycle`` with an altered one."""

    record_type: ClassVar[RecordType]

    def matches(self, record: DeviceRecord) -> bool:
        return record.record_type is self.record_type

    @abstractmethod
    def substitute(self, payload: bytes) -> tuple[bytes, SignedRecord, str]:
        """The altered wire bytes, the record as the backend will read them, and a detail."""

    def transmit(self, ctx: FaultContext, items: list[Transmission]) -> list[Transmission]:
        if self.fired or ctx.cycle < self.cycle:
            return items
        for index, item in enumerate(items):
            if item.pending is None or not self.matches(item.pending.signed.record):
                continue
            self.fired = True
            data, received, detail = self.substitute(item.payload)
            ctx.report(
                make_truth(
                    ctx,
                    self.kind,
                    received.record,
                    received.hash,
                    "bad_signature",
                    "security",
                    detail,
                )
            )
            _consequences(ctx, self.kind, items, index)
            out = list(items)
            out[index] = replace(item, payload=data)
            return out
        return items


class TransitDoseTamper(_TransitSubstitution):
    """A man in the middle multiplies the dose of an actuator command (bad signature)."""

    kind = "transit_dose_tamper"
    record_type = RecordType.ACTUATOR_COMMAND

    def __init__(self, cycle: int, factor: float = 4.0) -> None:
        super().__init__(cycle)
        self.factor = factor

    def matches(self, record: DeviceRecord) -> bool:
        return super().matches(record) and record.body.get("kind") in ("temp_basal", "bolus")

    def substitute(self, payload: bytes) -> tuple[bytes, SignedRecord, str]:
        def mutate(body: JsonObject) -> None:
            key = "rate_u_h" if body["kind"] == "temp_basal" else "units"
            body[key] = round(float(body[key]) * self.factor + 0.5, 2)

        data, received = _altered(payload, mutate)
        return data, received, "dose altered in transit after signing"


class TransitSensorTamper(_TransitSubstitution):
    """A man in the middle raises a sensor value in transit (bad signature)."""

    kind = "transit_sensor_tamper"
    record_type = RecordType.SENSOR_READING

    def __init__(self, cycle: int, delta_mg_dl: float = 100.0) -> None:
        super().__init__(cycle)
        self.delta = delta_mg_dl

    def substitute(self, payload: bytes) -> tuple[bytes, SignedRecord, str]:
        def mutate(body: JsonObject) -> None:
            body["glucose_mg_dl"] = min(600, round(body["glucose_mg_dl"] + self.delta))

        data, received = _altered(payload, mutate)
        return data, received, "sensor value altered in transit after signing"


class ForgedSignature(_TransitSubstitution):
    """An attacker replaces a command with a bolus of ``units`` signed by another key."""

    kind = "forged_signature"
    record_type = RecordType.ACTUATOR_COMMAND

    def __init__(self, cycle: int, units: float = 5.0, attacker_seed: bytes = b"attacker") -> None:
        super().__init__(cycle)
        self.units = units
        self.attacker_seed = attacker_seed

    @property
    def key(self) -> Ed25519PrivateKey:
        """The attacker's key (derived on use, so that the fault pickles to workers)."""
        return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(self.attacker_seed).digest())

    def substitute(self, payload: bytes) -> tuple[bytes, SignedRecord, str]:
        genuine = parse_envelope(payload).record
        body = {k: v for k, v in genuine.body.items() if k not in ("rate_u_h", "duration_min")}
        body.update(kind="bolus", units=self.units)
        forged = sign_record(self.key, replace(genuine, body=body))
        return forged.to_wire(), forged, f"a {self.units} U bolus signed with another key"


class Replay(Fault):
    """Capture the first envelope sent at ``capture_cycle``; re-send it at ``cycle``.

    The replayed envelope is byte-identical to the original, so a correct backend answers
    it as a ``duplicate`` with the original receipt and stores nothing new; since the
    original was acknowledged long before, it records a ``stale_duplicate`` security event.
    """

    kind = "replay"

    def __init__(self, cycle: int, capture_cycle: int | None = None) -> None:
        super().__init__(cycle)
        self.capture_cycle = max(0, cycle - 12) if capture_cycle is None else capture_cycle
        if self.capture_cycle >= cycle:
            raise UsageError("a replay re-sends an envelope captured at an earlier cycle")
        self.captured: bytes | None = None

    def transmit(self, ctx: FaultContext, items: list[Transmission]) -> list[Transmission]:
        if self.captured is None and ctx.cycle >= self.capture_cycle and items:
            self.captured = items[-1].payload
        if self.fired or ctx.cycle < self.cycle or self.captured is None:
            return items
        self.fired = True
        old = parse_envelope(self.captured)
        ctx.report(
            make_truth(
                ctx,
                self.kind,
                old.record,
                old.hash,
                "stale_duplicate",
                "security",
                "byte-identical envelope re-sent an hour later",
            )
        )
        return [*items, Transmission(self.captured, None)]


class DropRecords(Fault):
    """The device loses ``count`` records of the transmission at ``cycle`` for good.

    Truth: ``gap`` (the missing range) on the first record after the loss that arrives.
    """

    kind = "dropped_records"

    def __init__(self, cycle: int, count: int = 2) -> None:
        super().__init__(cycle)
        if count < 1:
            raise UsageError("drop at least one record")
        self.count = count
        self._lost: tuple[str, int, int] | None = None

    def transmit(self, ctx: FaultContext, items: list[Transmission]) -> list[Transmission]:
        if self._lost is not None and not self.fired:
            boot, lo, hi = self._lost
            for item in items:
                if item.pending is None:
                    continue
                rec = item.pending.signed.record
                if rec.boot_id == boot and rec.seq > hi:
                    self.fired = True
                    ctx.report(
                        make_truth(
                            ctx,
                            self.kind,
                            rec,
                            item.pending.signed.hash,
                            "gap",
                            "security",
                            f"records {lo}..{hi} were lost on the device",
                            missing=(lo, hi),
                        )
                    )
                    break
            return items
        if self._lost is not None or ctx.cycle < self.cycle:
            return items
        own = [i.pending for i in items if i.pending is not None]
        if len(own) < self.count + 1:
            return items
        lost = own[-self.count - 1 : -1]  # keep the newest: it arrives and shows the gap
        first, last = lost[0].signed.record, lost[-1].signed.record
        if first.boot_id != last.boot_id or last.seq - first.seq != self.count - 1:
            return items
        self._lost = (first.boot_id, first.seq, last.seq)
        for pending in lost:
            ctx.forget(pending)
        kept = [i for i in items if i.pending not in lost]
        return self.transmit(ctx, kept)


class ReorderRecords(Fault):
    """Swap two consecutive records of the transmission at ``cycle``.

    Truth: ``gap`` on the later record (it arrives first) and ``reorder`` on the earlier.
    """

    kind = "reordered_records"

    def transmit(self, ctx: FaultContext, items: list[Transmission]) -> list[Transmission]:
        if self.fired or ctx.cycle < self.cycle:
            return items
        for i in range(len(items) - 1):
            a, b = items[i].pending, items[i + 1].pending
            if a is None or b is None:
                continue
            ra, rb = a.signed.record, b.signed.record
            if ra.boot_id != rb.boot_id or rb.seq != ra.seq + 1:
                continue
            self.fired = True
            ctx.report(
                make_truth(
                    ctx,
                    self.kind,
                    rb,
                    b.signed.hash,
                    "gap",
                    "security",
                    f"record {rb.seq} sent before {ra.seq}",
                    missing=(ra.seq, ra.seq),
                )
            )
            ctx.report(
                make_truth(
                    ctx,
                    self.kind,
                    ra,
                    a.signed.hash,
                    "reorder",
                    "security",
                    f"record {ra.seq} arrives after {rb.seq}",
                )
            )
            out = list(items)
            out[i], out[i + 1] = out[i + 1], out[i]
            return out
        return items
