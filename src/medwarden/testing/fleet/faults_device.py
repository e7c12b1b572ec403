"""Faults on the device: sensor layer, clock, and records altered before signing."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from medwarden.errors import UsageError
from medwarden.telemetry.records import JsonObject, RecordType

if TYPE_CHECKING:
    pass
from medwarden.testing.fleet.fault_base import Edit, Fault, FaultContext

__all__ = [
    "ClockJump",
    "DecisionMismatch",
    "DeviceDoseTamper",
    "DeviceSensorTamper",
    "SensorCompressionLow",
    "SensorDropout",
]


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
