"""A simulated closed-loop device: CGM -> controller -> pump, signing every line of its log.

Every 5 simulated minutes (one *cycle*) the device

1. gives the meal bolus of its patient's scenario (``user_override`` -> ``actuator_command``
   -> ``actuator_confirmation``), and any scheduled mode change, alarm or device event;
2. reads the CGM (``sensor_reading``);
3. in closed loop, builds the controller's full input tuple from its own glucose and pump
   history and runs the controller (``controller_decision``: ``inputs``, normalised
   ``output``, ``raw``), then executes the output: a ``temp_basal`` and/or an SMB ``bolus``
   command naming the decision's seq, each confirmed by the pump;
4. lets the patient live 5 minutes with the insulin the pump delivers;
5. sends every record not yet acknowledged, oldest first (retries carry the very same
   bytes), and drops from its outbox what the backend acknowledged (``accepted`` or
   ``duplicate``).

Records chain with ``prev_hash`` across boots; ``seq`` restarts at 0 on each boot, and a
boot's first record is a ``device_event`` ``boot`` that links to the last record the
device made.  :meth:`SimulatedDevice.state` is what the device persists (chain head, last
acknowledged record, outbox, histories); :meth:`SimulatedDevice.resume` restarts from it
with a new boot, so that nothing is re-emitted and nothing acknowledged is sent again.

Everything is a function of the seed: keys, boot ids, meals, schedule and sensor noise;
``device_time`` comes from the simulated clock, so the same seed gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from medwarden.errors import MedwardenError, UsageError
from medwarden.telemetry.controllers.base import Controller
from medwarden.telemetry.envelope import SignedRecord, record_hash, sign_record
from medwarden.telemetry.receipts import IngestResult
from medwarden.telemetry.records import GENESIS, DeviceRecord, JsonObject, RecordType
from medwarden.testing.fleet.device_parts import (
    CycleReport,
    DeviceStats,
    Patient,
    Pending,
    Transport,
    boot_id_for,
    device_key,
)
from medwarden.testing.fleet.device_state import Chain, Histories, PumpState, Saved, load, save
from medwarden.testing.fleet.faults import (
    Edit,
    Fault,
    FaultContext,
    GroundTruth,
    Transmission,
)
from medwarden.testing.fleet.loop import LoopHelpers, build_inputs, epoch_ms, iso_ms, oref0_profile
from medwarden.testing.fleet.schedule import Meal, Scheduled, event_schedule, meal_plan

__all__ = [
    "CYCLE",
    "DEFAULT_START",
    "CycleReport",
    "DeviceStats",
    "Patient",
    "Pending",
    "SimulatedDevice",
    "Transport",
    "boot_id_for",
    "device_key",
]

CYCLE = timedelta(minutes=5)
DEFAULT_START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
"""Where simulated time starts unless told otherwise (a Monday, midnight UTC)."""

FIRMWARE = "medwarden-sim/1.0"
MAX_BATCH = 1000
"""Envelopes per transmission at most (the HTTPS and MQTT batch limit)."""
MAX_BATCH_BYTES = 3 * 1024 * 1024
"""Wire bytes per transmission at most (under MQTT's 4 MiB batch message; a decision
record with oref0's full input tuple is ~18 KB)."""
_GLUCOSE_KEEP = 48  # 4 h of CGM entries
_HISTORY_KEEP = timedelta(hours=6, minutes=5)  # oref0 looks back DIA (6 h)
_CARBS_KEEP = timedelta(hours=8)


class SimulatedDevice:
    """One device (see the module docstring).  Build with :meth:`start` or :meth:`resume`."""

    def __init__(
        self,
        *,
        device_id: str,
        seed: int,
        patient: Patient,
        basal_u_h: float,
        isf_mg_dl_u: float,
        carb_ratio_g_u: float,
        patient_name: str,
        controller: Controller,
        helpers: LoopHelpers,
        start: datetime = DEFAULT_START,
        horizon_cycles: int = 288,
        faults: Sequence[Fault] = (),
        max_attempts: int = 5,
        key: Ed25519PrivateKey | None = None,
    ) -> None:
        if start.tzinfo is None:
            raise UsageError("the simulated start time must be timezone-aware")
        self.device_id = device_id
        self.seed = seed
        self.patient = patient
        self.patient_name = patient_name
        self.controller = controller
        self.helpers = helpers
        self.start_time = start.astimezone(UTC)
        self.faults = list(faults)
        self.max_attempts = max_attempts
        self.key = key if key is not None else device_key(seed, device_id)
        self.profile = oref0_profile(
            basal_u_h=basal_u_h, isf_mg_dl_u=isf_mg_dl_u, carb_ratio_g_u=carb_ratio_g_u
        )
        self.basal_u_h = float(self.profile["current_basal"])
        self.cycle = 0
        self.truth: list[GroundTruth] = []
        self.stats = DeviceStats()
        self.outbox: list[Pending] = []
        self._chain = Chain(0, boot_id_for(seed, device_id, 0), 0, GENESIS)
        self._pump = PumpState()
        self._hist = Histories()
        self._meals = {m.cycle: m for m in meal_plan(seed, device_id, patient_name, horizon_cycles)}
        self._schedule: dict[int, list[Scheduled]] = {}
        for ev in event_schedule(seed, device_id, horizon_cycles):
            self._schedule.setdefault(ev.cycle, []).append(ev)
        self._boot_pending: JsonObject | None = {
            "event": "boot",
            "boot_count": 0,
            "firmware": FIRMWARE,
        }
        self._low_alarm = False
        self._ctx: FaultContext | None = None
        self._record_index = 0

    # ---- identity and persistence ---------------------------------------------------------

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.key.public_key()

    @property
    def boot_id(self) -> str:
        return self._chain.boot_id

    @property
    def head(self) -> tuple[str, int, str]:
        """(boot id, seq, hash) of the last record the device made (seq -1 before any)."""
        return self._chain.boot_id, self._chain.next_seq - 1, self._chain.head_hash

    @property
    def last_acknowledged(self) -> tuple[str, int, str] | None:
        """(boot id, seq, hash) of the newest record the backend acknowledged."""
        acked = self._chain.last_acked
        return None if acked is None else (acked[1], acked[2], acked[3])

    def state(self) -> JsonObject:
        """What the device persists after each cycle (JSON; see :meth:`resume`)."""
        saved = Saved(self.cycle, self._chain, self.outbox, self._pump, self._hist, self._low_alarm)
        return save(self.device_id, saved)

    def resume(self, state: JsonObject) -> None:
        """Restart from a persisted :meth:`state`: a new boot that links to the old head.

        The outbox is restored as persisted (its records are re-sent with their original
        bytes); acknowledged records are never sent again and no record is re-made.
        """
        saved = load(state, self.device_id)
        old, count = saved.chain, saved.chain.boot_count + 1
        boot_id = boot_id_for(self.seed, self.device_id, count)
        self._chain = Chain(count, boot_id, 0, old.head_hash, old.made, old.last_acked)
        self.cycle, self.outbox = saved.cycle, saved.outbox
        self._pump, self._hist, self._low_alarm = saved.pump, saved.history, saved.low_alarm
        self._boot_pending = {
            "event": "boot",
            "boot_count": count,
            "firmware": FIRMWARE,
            "reason": "restart",
            "resumed_after_seq": old.next_seq - 1,
        }

    # ---- records ----------------------------------------------------------------------------

    def _emit(
        self, record_type: RecordType, body: JsonObject, *, made: list[SignedRecord]
    ) -> SignedRecord:
        ctx = self._context()
        edits: list[tuple[Fault, Edit]] = []
        for fault in self.faults:
            edit = fault.edit(ctx, record_type, body)
            if edit is not None:
                body = edit.body
                edits.append((fault, edit))
        offset = sum((f.clock_offset(ctx) for f in self.faults), timedelta(0))
        when = self._now() + offset + timedelta(seconds=self._record_index)
        self._record_index += 1
        c = self._chain
        record = DeviceRecord(
            device_id=self.device_id,
            boot_id=c.boot_id,
            seq=c.next_seq,
            device_time=when,
            prev_hash=c.head_hash,
            record_type=record_type,
            body=body,
        )
        signed = sign_record(self.key, record)
        h = record_hash(signed.record)
        c.next_seq += 1
        c.head_hash = h
        self.outbox.append(Pending(signed, signed.to_wire(), c.made))
        c.made += 1
        self.stats.records += 1
        made.append(signed)
        for fault, edit in edits:
            self.truth.append(
                GroundTruth(
                    device_id=self.device_id,
                    fault=fault.kind,
                    boot_id=record.boot_id,
                    seq=record.seq,
                    record_hash=h,
                    expected=edit.expected,
                    category=edit.category,
                    cycle=self.cycle,
                    detail=edit.detail,
                    primary=edit.primary,
                )
            )
        return signed

    def _now(self) -> datetime:
        return self.start_time + self.cycle * CYCLE

    def _context(self) -> FaultContext:
        if self._ctx is None or self._ctx.cycle != self.cycle or self._ctx.boot_id != self.boot_id:
            self._ctx = FaultContext(
                device_id=self.device_id,
                boot_id=self.boot_id,
                cycle=self.cycle,
                now=self._now(),
                report=self.truth.append,
                forget=self._forget,
            )
        return self._ctx

    def _forget(self, pending: Pending) -> None:
        if pending in self.outbox:
            self.outbox.remove(pending)
            self.stats.abandoned += 1

    # ---- pump ---------------------------------------------------------------------------

    def _command_id(self) -> str:
        self._pump.command_counter += 1
        return f"cmd-{self._pump.command_counter:07d}"

    def _temp_active(self, at: datetime) -> bool:
        p = self._pump
        return (
            p.temp_rate is not None
            and p.temp_start is not None
            and at < p.temp_start + timedelta(minutes=p.temp_minutes)
        )

    def _currenttemp(self, at: datetime) -> JsonObject:
        p = self._pump
        if not self._temp_active(at) or p.temp_start is None or p.temp_rate is None:
            return {"duration": 0, "rate": 0, "temp": "absolute"}
        left = p.temp_start + timedelta(minutes=p.temp_minutes) - at
        return {
            "duration": round(left.total_seconds() / 60),
            "rate": p.temp_rate,
            "temp": "absolute",
        }

    def _pump_entry(self, at: datetime, entry: JsonObject) -> None:
        self._hist.pump.insert(0, {"timestamp": iso_ms(at), **entry})

    def _execute(self, body: JsonObject, made: list[SignedRecord]) -> float:
        """Run an actuator command as logged; confirm it; return the bolus units given."""
        at = self._now()
        self.stats.commands += 1
        if body["kind"] == "temp_basal":
            rate = self.patient.pump_rate(float(body["rate_u_h"]))
            minutes = int(body["duration_min"])
            self._pump.temp_rate, self._pump.temp_start = rate, at
            self._pump.temp_minutes = minutes
            self._pump_entry(at, {"_type": "TempBasalDuration", "duration (min)": minutes})
            self._pump_entry(at, {"_type": "TempBasal", "temp": "absolute", "rate": rate})
            self._emit(
                RecordType.ACTUATOR_CONFIRMATION,
                {
                    "command_id": body["command_id"],
                    "status": "delivered",
                    "rate_u_h": rate,
                    "delivered_u": 0.0,
                },
                made=made,
            )
            return 0.0
        units = self.patient.pump_bolus(float(body["units"]))
        units = min(units, max(self._pump.reservoir_u, 0.0))
        self._pump_entry(at, {"_type": "Bolus", "amount": units, "duration": 0})
        self._emit(
            RecordType.ACTUATOR_CONFIRMATION,
            {
                "command_id": body["command_id"],
                "status": "delivered",
                "delivered_u": round(units, 3),
                "rate_u_h": self._current_rate(at),
            },
            made=made,
        )
        return units

    def _current_rate(self, at: datetime) -> float:
        if self._temp_active(at) and self._pump.temp_rate is not None:
            return self._pump.temp_rate
        return self.basal_u_h

    # ---- one cycle ------------------------------------------------------------------------

    def run_cycle(self, transport: Transport | None) -> CycleReport:
        """Simulate one 5-minute cycle and send what is unacknowledged (see module doc)."""
        made: list[SignedRecord] = []
        self._record_index = 0
        now = self._now()
        ctx = self._context()
        if self._boot_pending is not None:
            signed = self._emit(RecordType.DEVICE_EVENT, self._boot_pending, made=made)
            if self._chain.boot_count > 0:
                self.truth.append(
                    GroundTruth(
                        self.device_id,
                        "restart",
                        signed.record.boot_id,
                        signed.record.seq,
                        signed.hash,
                        "new_boot",
                        "security",
                        self.cycle,
                        "device restarted from its persisted state",
                    )
                )
            self._boot_pending = None
            self.stats.boots += 1
        for ev in self._schedule.get(self.cycle, []):
            if ev.record_type is RecordType.MODE_CHANGE:
                if self._pump.mode == ev.body["mode"]:
                    continue
                self._pump.mode = str(ev.body["mode"])
            self._emit(ev.record_type, dict(ev.body), made=made)
        bolus = 0.0
        meal = self._meals.get(self.cycle)
        if meal is not None:
            bolus += self._meal(meal, now, made)
        raw = self.patient.cgm()
        glucose: float | None = raw
        for fault in self.faults:
            glucose = fault.reading(ctx, glucose)
        shown: int | None = None
        if glucose is not None:
            shown = round(glucose)
            entry = {
                "date": epoch_ms(now),
                "dateString": iso_ms(now),
                "sgv": shown,
                "glucose": shown,
                "type": "sgv",
                "device": self.patient.sensor_id,
            }
            self._hist.glucose.insert(0, entry)
            del self._hist.glucose[_GLUCOSE_KEEP:]
            self._emit(
                RecordType.SENSOR_READING,
                {"glucose_mg_dl": shown, "sensor_id": self.patient.sensor_id, "quality": "ok"},
                made=made,
            )
            self._alarms(shown, made)
            if self._pump.mode == "closed_loop":
                bolus += self._loop(now, made)
        self._trim(now)
        basal = self._current_rate(now)
        self.patient.step(5, basal_u_h=basal, bolus_u=bolus)
        self._pump.reservoir_u = max(0.0, self._pump.reservoir_u - bolus - basal / 12.0)
        sent, acked = self._send(transport, ctx)
        self.stats.cycles += 1
        self.cycle += 1
        return CycleReport(
            self.cycle - 1, tuple(made), sent, acked, float(shown) if shown is not None else None
        )

    def _meal(self, meal: Meal, now: datetime, made: list[SignedRecord]) -> float:
        self.patient.eat(meal.carbs_g)
        self._hist.carbs.insert(
            0, {"carbs": meal.carbs_g, "created_at": iso_ms(now), "enteredBy": "medwarden-sim"}
        )
        if not meal.bolus:
            return 0.0
        cr = float(self.profile["carb_ratio"])
        units = round(round(meal.carbs_g / cr / 0.05) * 0.05, 2)
        self._emit(
            RecordType.USER_OVERRIDE,
            {"kind": "manual_bolus", "units": units, "carbs_g": meal.carbs_g},
            made=made,
        )
        body = {"command_id": self._command_id(), "kind": "bolus", "units": units}
        self._emit(RecordType.ACTUATOR_COMMAND, body, made=made)
        return self._execute(body, made)

    def _alarms(self, glucose: int, made: list[SignedRecord]) -> None:
        if glucose < 70 and not self._low_alarm:
            self._low_alarm = True
            self._emit(
                RecordType.ALARM,
                {"code": "low_glucose", "severity": "high", "text": f"CGM {glucose} mg/dL"},
                made=made,
            )
        elif glucose >= 80:
            self._low_alarm = False

    def _loop(self, now: datetime, made: list[SignedRecord]) -> float:
        try:
            inputs = build_inputs(
                self.helpers,
                now=now,
                glucose_data=self._hist.glucose,
                pump_history=self._hist.pump,
                carbs=self._hist.carbs,
                profile=self.profile,
                currenttemp=self._currenttemp(now),
                reservoir_u=self._pump.reservoir_u,
            )
            result = self.controller.decide(inputs)
        except MedwardenError as exc:
            # as a rig does: log the failure, make no decision, let the pump fall back
            self.stats.controller_errors += 1
            self._emit(
                RecordType.ALARM,
                {"code": "controller_error", "severity": "medium", "text": exc.message[:200]},
                made=made,
            )
            return 0.0
        output = {
            "rate_u_h": result.get("rate_u_h"),
            "duration_min": result.get("duration_min"),
            "smb_u": result.get("smb_u") or 0.0,
        }
        body: JsonObject = {
            "algorithm": self.controller.algorithm,
            "algorithm_version": self.controller.version,
            "inputs": inputs,
            "output": output,
        }
        if "raw" in result:
            body["raw"] = result["raw"]
        decision = self._emit(RecordType.CONTROLLER_DECISION, body, made=made)
        self.stats.decisions += 1
        logged = decision.record.body["output"]
        bolus = 0.0
        if logged.get("rate_u_h") is not None and logged.get("duration_min") is not None:
            cmd: JsonObject = {
                "command_id": self._command_id(),
                "kind": "temp_basal",
                "decision_seq": decision.record.seq,
                "rate_u_h": logged["rate_u_h"],
                "duration_min": logged["duration_min"],
            }
            bolus += self._run(cmd, made)
        if float(logged.get("smb_u") or 0.0) > 0:
            cmd = {
                "command_id": self._command_id(),
                "kind": "bolus",
                "decision_seq": decision.record.seq,
                "units": logged["smb_u"],
            }
            bolus += self._run(cmd, made)
        return bolus

    def _run(self, cmd: JsonObject, made: list[SignedRecord]) -> float:
        signed = self._emit(RecordType.ACTUATOR_COMMAND, cmd, made=made)
        return self._execute(signed.record.body, made)

    def _trim(self, now: datetime) -> None:
        cutoff = iso_ms(now - _HISTORY_KEEP)
        self._hist.pump = [e for e in self._hist.pump if e["timestamp"] >= cutoff]
        cutoff = iso_ms(now - _CARBS_KEEP)
        self._hist.carbs = [e for e in self._hist.carbs if e["created_at"] >= cutoff]

    # ---- sending ----------------------------------------------------------------------------

    def _send(self, transport: Transport | None, ctx: FaultContext) -> tuple[int, int]:
        if transport is None or not self.outbox:
            return 0, 0
        batch: list[Pending] = []
        size = 0
        for waiting in self.outbox[:MAX_BATCH]:
            size += len(waiting.wire) + 1
            if batch and size > MAX_BATCH_BYTES:
                break
            batch.append(waiting)
        items = [Transmission(p.wire, p) for p in batch]
        for item in items:
            self._late(ctx, item)
        for fault in self.faults:
            items = fault.transmit(ctx, items)
        if not items:
            return 0, 0
        results: Sequence[IngestResult]
        try:
            results = transport.send(self.device_id, [i.payload for i in items])
        except OSError:
            results = []
        by_index = {r.index: r for r in results}
        acked = 0
        for index, item in enumerate(items):
            pending = item.pending
            if pending is None or pending not in self.outbox:
                continue
            result = by_index.get(index)
            pending.attempts += 1
            if result is not None and result.status in ("accepted", "duplicate"):
                self.outbox.remove(pending)
                acked += 1
                self._acked(pending)
            elif pending.attempts >= self.max_attempts:
                self.outbox.remove(pending)
                self.stats.abandoned += 1
            else:
                self.stats.retried += 1
        self.stats.sent += len(items)
        self.stats.acknowledged += acked
        return len(items), acked

    def _late(self, ctx: FaultContext, item: Transmission) -> None:
        """A genuine retry of a record whose substitute left a gap: report the reorder."""
        pending = item.pending
        if pending is None or pending.late_fault is None:
            return
        rec = pending.signed.record
        self.truth.append(
            GroundTruth(
                device_id=self.device_id,
                fault=pending.late_fault,
                boot_id=rec.boot_id,
                seq=rec.seq,
                record_hash=pending.signed.hash,
                expected="reorder",
                category="security",
                cycle=ctx.cycle,
                detail="the genuine record arrives on the device's retry",
                primary=False,
            )
        )
        pending.late_fault = None

    def _acked(self, pending: Pending) -> None:
        c = self._chain
        if c.last_acked is None or pending.position > c.last_acked[0]:
            rec = pending.signed.record
            c.last_acked = (pending.position, rec.boot_id, rec.seq, pending.signed.hash)
