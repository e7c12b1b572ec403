"""Faults and attacks injected at known records, each with the ground truth it implies.

A :class:`Fault` is a small injector with hooks that a
:class:`~medwarden.testing.fleet.device.SimulatedDevice` calls during its 5-minute cycle;
every hook defaults to "no change", so faults compose: a device may carry any list of them.

* ``reading`` -- the sensor layer (compression low, dropout);
* ``clock_offset`` -- the device clock (clock jump);
* ``edit`` -- a record's body *on the device*, before it is signed (tampered dose, tampered
  sensor value, a decision that disagrees with its inputs).  The device executes what it
  logs, so a tampered command is also what the pump delivers;
* ``transmit`` -- the envelopes of one transmission, *after* signing (bytes altered, a
  forged signature, a replay, dropped or reordered records).

Each fault appends :class:`GroundTruth` entries when it fires: the record a correct
backend must name (device, boot, seq and the hash of the record *as the backend receives
it*), the event kind it must raise and whether that is a security event, a clinical
warning or just an ingest outcome (a byte-identical replay is a ``duplicate``).

Transit faults have consequences a correct backend reports too, and they are listed as
separate entries (``primary=False``): a record rejected in the middle of a transmission
leaves a one-record ``gap`` at its successor; when the device then retries the genuine
bytes (it does unless the sink acknowledged the altered envelope), that retry fills the
gap as a ``reorder``, which the device reports when it sends it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medwarden.core.digests import canonical_json
from medwarden.errors import UsageError
from medwarden.telemetry.envelope import SignedRecord, parse_envelope, sign_record
from medwarden.telemetry.records import DeviceRecord, JsonObject, RecordType

if TYPE_CHECKING:
    from medwarden.testing.fleet.device import Pending

__all__ = [
    "FAULT_KINDS",
    "ClockJump",
    "DecisionMismatch",
    "DeviceDoseTamper",
    "DeviceSensorTamper",
    "DropRecords",
    "Edit",
    "Fault",
    "FaultContext",
    "ForgedSignature",
    "GroundTruth",
    "ReorderRecords",
    "Replay",
    "SensorCompressionLow",
    "SensorDropout",
    "TransitDoseTamper",
    "TransitSensorTamper",
    "Transmission",
    "fault_from_spec",
]


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


def _truth(
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


class SensorCompressionLow(Fault):
    """A compression low: readings fall by up to ``depth`` for a few cycles, then recover.

    The device sees and logs the low readings (they are genuine sensor output), and the
    controller acts on them.  Truth: ``sensor_compression_low`` on the first low reading.
    """

    kind = "sensor_compression_low"
    PROFILE = (0.75, 0.6, 0.55, 0.65, 0.85)

    def __init__(self, cycle: int, depth: float = 0.45) -> None:
        super().__init__(cycle)
        self.depth = depth

    def _factor(self, cycle: int) -> float | None:
        i = cycle - self.cycle
        if 0 <= i < len(self.PROFILE):
            return 1.0 - (1.0 - self.PROFILE[i]) * self.depth / 0.45
        return None

    def reading(self, ctx: FaultContext, glucose: float | None) -> float | None:
        factor = self._factor(ctx.cycle)
        if glucose is None or factor is None:
            return glucose
        return max(39.0, glucose * factor)

    def edit(self, ctx: FaultContext, record_type: RecordType, body: JsonObject) -> Edit | None:
        if record_type is not RecordType.SENSOR_READING or self.fired:
            return None
        if self._factor(ctx.cycle) is None:
            return None
        self.fired = True
        return Edit(
            body,
            "sensor_compression_low",
            "warning",
            f"readings fall transiently for {len(self.PROFILE) * 5} min and recover",
        )


class SensorDropout(Fault):
    """No readings for ``minutes`` (>= 30); the loop cannot run without glucose.

    Truth: ``sensor_dropout`` on the first reading after the silence.
    """

    kind = "sensor_dropout"

    def __init__(self, cycle: int, minutes: int = 35) -> None:
        super().__init__(cycle)
        if minutes < 10:
            raise UsageError("a sensor dropout lasts at least 10 minutes")
        self.cycles = (minutes + 4) // 5

    def reading(self, ctx: FaultContext, glucose: float | None) -> float | None:
        if self.cycle <= ctx.cycle < self.cycle + self.cycles:
            return None
        return glucose

    def edit(self, ctx: FaultContext, record_type: RecordType, body: JsonObject) -> Edit | None:
        if record_type is not RecordType.SENSOR_READING or self.fired:
            return None
        if ctx.cycle < self.cycle + self.cycles:
            return None
        self.fired = True
        gap = (ctx.cycle - self.cycle + 1) * 5
        return Edit(body, "sensor_dropout", "warning", f"no reading for {gap} min before this one")


# ---- device clock ------------------------------------------------------------------------


class ClockJump(Fault):
    """The device clock jumps by ``offset`` for ``cycles`` cycles, then is corrected.

    Truth: ``clock_outside_window`` on every record with the wrong time (for a backend
    whose clock window is smaller than ``offset``; the first is the primary entry) and
    ``time_backwards`` on the first record after the correction.
    """

    kind = "clock_jump"

    def __init__(self, cycle: int, offset: timedelta = timedelta(hours=2), cycles: int = 6) -> None:
        super().__init__(cycle)
        self.offset = offset
        self.cycles = cycles
        self._back_reported = False

    def _active(self, cycle: int) -> bool:
        return self.cycle <= cycle < self.cycle + self.cycles

    def clock_offset(self, ctx: FaultContext) -> timedelta:
        return self.offset if self._active(ctx.cycle) else timedelta(0)

    def edit(self, ctx: FaultContext, record_type: RecordType, body: JsonObject) -> Edit | None:
        if self._active(ctx.cycle):
            first = not self.fired
            self.fired = True
            return Edit(
                body,
                "clock_outside_window",
                "security",
                f"device clock is off by {self.offset}",
                primary=first,
            )
        if self.fired and not self._back_reported and ctx.cycle >= self.cycle + self.cycles:
            self._back_reported = True
            expected = "time_backwards" if self.offset > timedelta(0) else "clock_outside_window"
            return Edit(body, expected, "security", "device clock corrected back")
        return None


# ---- on the device, before signing ----------------------------------------------------


class DeviceDoseTamper(Fault):
    """Malware on the device changes the dose of the first command at or after ``cycle``.

    The command is validly signed but differs from the decision it names; the pump
    delivers the tampered dose.  Truth: ``dose_mismatch`` on the command.
    """

    kind = "device_dose_tamper"

    def __init__(self, cycle: int, factor: float = 3.0) -> None:
        super().__init__(cycle)
        self.factor = factor

    def edit(self, ctx: FaultContext, record_type: RecordType, body: JsonObject) -> Edit | None:
        if record_type is not RecordType.ACTUATOR_COMMAND or self.fired or ctx.cycle < self.cycle:
            return None
        if "decision_seq" not in body:
            return None
        new = dict(body)
        if body["kind"] == "temp_basal":
            old = float(body["rate_u_h"])
            new["rate_u_h"] = round(old * self.factor + 0.5, 2)
            what = f"rate {old} -> {new['rate_u_h']} U/h"
        elif body["kind"] == "bolus":
            old = float(body["units"])
            new["units"] = round(old * self.factor + 0.5, 2)
            what = f"bolus {old} -> {new['units']} U"
        else:
            return None
        self.fired = True
        return Edit(new, "dose_mismatch", "warning", f"command differs from its decision: {what}")


class DeviceSensorTamper(Fault):
    """The logged reading at ``cycle`` differs from the glucose the decision used.

    Truth: ``sensor_mismatch`` on the sensor reading (the decision that follows it logs
    the true value in ``inputs.glucose_status``).
    """

    kind = "device_sensor_tamper"

    def __init__(self, cycle: int, delta_mg_dl: float = 80.0) -> None:
        super().__init__(cycle)
        self.delta = delta_mg_dl

    def edit(self, ctx: FaultContext, record_type: RecordType, body: JsonObject) -> Edit | None:
        if record_type is not RecordType.SENSOR_READING or self.fired or ctx.cycle < self.cycle:
            return None
        self.fired = True
        old = body["glucose_mg_dl"]
        new = dict(body, glucose_mg_dl=min(600, round(old + self.delta)))
        return Edit(
            new,
            "sensor_mismatch",
            "warning",
            f"logged {new['glucose_mg_dl']} mg/dL, decision used {old} mg/dL",
        )


class DecisionMismatch(Fault):
    """The decision at or after ``cycle`` logs an output its algorithm does not compute.

    The logged rate (and ``raw.rate``) is doubled plus 0.5 U/h (or set to twice the
    current basal when the algorithm left the temp unchanged); commands follow the logged
    output.  Truth: ``decision_mismatch`` on the decision.
    """

    kind = "decision_mismatch"

    def edit(self, ctx: FaultContext, record_type: RecordType, body: JsonObject) -> Edit | None:
        if (
            record_type is not RecordType.CONTROLLER_DECISION
            or self.fired
            or ctx.cycle < self.cycle
        ):
            return None
        self.fired = True
        output = dict(body["output"])
        old = output.get("rate_u_h")
        if old is None:
            basal = float(body["inputs"]["profile"]["current_basal"])
            output["rate_u_h"] = round(2 * basal, 2)
            output["duration_min"] = 30
        else:
            output["rate_u_h"] = round(2 * float(old) + 0.5, 2)
        new = dict(body, output=output)
        raw = body.get("raw")
        if isinstance(raw, dict):
            new["raw"] = dict(raw, rate=output["rate_u_h"], duration=output["duration_min"])
        return Edit(
            new,
            "decision_mismatch",
            "warning",
            f"logged rate {output['rate_u_h']} U/h, the algorithm computed {old}",
        )


# ---- in transit, after signing -----------------------------------------------------------


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
        _truth(
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


class _TransitSubstitution(Fault):
    """Replace the first matching envelope at or after ``cycle`` with an altered one."""

    record_type: ClassVar[RecordType]

    def matches(self, record: DeviceRecord) -> bool:
        return record.record_type is self.record_type

    def substitute(self, payload: bytes) -> tuple[bytes, SignedRecord, str]:
        raise NotImplementedError

    def transmit(self, ctx: FaultContext, items: list[Transmission]) -> list[Transmission]:
        if self.fired or ctx.cycle < self.cycle:
            return items
        for index, item in enumerate(items):
            if item.pending is None or not self.matches(item.pending.signed.record):
                continue
            self.fired = True
            data, received, detail = self.substitute(item.payload)
            ctx.report(
                _truth(
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
    it as a ``duplicate`` with the original receipt: no new record, no security event.
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
            _truth(
                ctx,
                self.kind,
                old.record,
                old.hash,
                "duplicate",
                "outcome",
                "byte-identical envelope re-sent later",
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
                        _truth(
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
                _truth(
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
                _truth(
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


FAULT_KINDS: dict[str, type[Fault]] = {
    cls.kind: cls
    for cls in (
        TransitDoseTamper,
        DeviceDoseTamper,
        TransitSensorTamper,
        DeviceSensorTamper,
        ForgedSignature,
        Replay,
        DropRecords,
        ReorderRecords,
        ClockJump,
        SensorCompressionLow,
        SensorDropout,
        DecisionMismatch,
    )
}
"""Every injector by its ``kind`` (what ``--fault KIND@CYCLE`` names)."""


def fault_from_spec(spec: str) -> Fault:
    """Build a fault from ``KIND@CYCLE`` (e.g. ``transit_dose_tamper@40``)."""
    kind, sep, cycle = spec.partition("@")
    cls = FAULT_KINDS.get(kind.strip())
    if not sep or cls is None or not cycle.strip().isdigit():
        raise UsageError(
            f"cannot read fault {spec!r}",
            hint="write KIND@CYCLE with KIND one of " + ", ".join(sorted(FAULT_KINDS)),
        )
    return cls(int(cycle))
