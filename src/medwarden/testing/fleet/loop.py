"""The controller side of a simulated device: oref0's input tuple, built the way a rig does.

An OpenAPS rig keeps the CGM history (``glucose.json``), the pump history
(``pumphistory.json``) and carb entries, and before each ``determine-basal`` run derives
``glucose_status`` (oref0 ``glucose-get-last``), ``iob_data`` (oref0 ``iob``) and
``meal_data`` (oref0 ``meal``) from them.  :class:`LoopHelpers` is that derivation;
:class:`~medwarden.telemetry.controllers.oref0.Oref0Runner` asks the real oref0 for it
(the harness ops ``glucose_status``, ``iob``, ``meal``), :class:`StandInHelpers`
approximates it in Python for tests that do not need Node.
:func:`build_inputs` assembles the full tuple that ``docs/telemetry.md`` names and the
device logs in its ``controller_decision``.

:class:`StandInController` is a trivial, deterministic
:class:`~medwarden.telemetry.controllers.base.Controller` (a proportional temp basal on
the eventual glucose) for tests; the reference device runs oref0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from medwarden.errors import InputError
from medwarden.telemetry.records import JsonObject

if TYPE_CHECKING:
    from medwarden.telemetry.controllers.oref0 import Oref0Runner

__all__ = [
    "LoopHelpers",
    "Oref0Helpers",
    "StandInController",
    "StandInHelpers",
    "build_inputs",
    "iso_ms",
    "oref0_profile",
]


def iso_ms(when: datetime) -> str:
    """ISO 8601 UTC with milliseconds and ``Z`` (what oref0 and Nightscout write)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def epoch_ms(when: datetime) -> int:
    """Milliseconds since the epoch."""
    return round(when.timestamp() * 1000)


class LoopHelpers(Protocol):
    """Derive determine-basal's inputs from a device's own histories (oref0's helper ops).

    :class:`Oref0Helpers` asks oref0 (through an ``Oref0Runner``); :class:`StandInHelpers`
    approximates it.
    """

    def glucose_status(self, glucose_data: Sequence[JsonObject]) -> JsonObject:
        """oref0 ``glucose-get-last`` over CGM entries, newest first."""
        ...

    def iob(self, history: Sequence[JsonObject], profile: JsonObject, clock: str) -> Any:
        """oref0 ``iob`` over pump history entries, newest first, at ``clock``."""
        ...

    def meal(
        self,
        history: Sequence[JsonObject],
        profile: JsonObject,
        basalprofile: Sequence[JsonObject],
        clock: str,
        *,
        carbs: Sequence[JsonObject] = (),
        glucose_data: Sequence[JsonObject] = (),
    ) -> JsonObject:
        """oref0 ``meal`` (carbs on board, deviations) at ``clock``."""
        ...


class Oref0Helpers:
    """:class:`LoopHelpers` answered by the real oref0 through an ``Oref0Runner``."""

    def __init__(self, runner: Oref0Runner) -> None:
        self._runner = runner

    def glucose_status(self, glucose_data: Sequence[JsonObject]) -> JsonObject:
        return self._runner.glucose_status(glucose_data)

    def iob(self, history: Sequence[JsonObject], profile: JsonObject, clock: str) -> Any:
        return self._runner.iob(history, profile, clock)

    def meal(
        self,
        history: Sequence[JsonObject],
        profile: JsonObject,
        basalprofile: Sequence[JsonObject],
        clock: str,
        *,
        carbs: Sequence[JsonObject] = (),
        glucose_data: Sequence[JsonObject] = (),
    ) -> JsonObject:
        return self._runner.meal(
            history, profile, basalprofile, clock, carbs=carbs, glucose_data=glucose_data
        )


def oref0_profile(
    *,
    basal_u_h: float,
    isf_mg_dl_u: float,
    carb_ratio_g_u: float,
    target_mg_dl: float = 110.0,
    max_iob_u: float | None = None,
    dia_h: float = 6.0,
) -> JsonObject:
    """An oref0 profile (as ``oref0-get-profile`` writes it) for one patient.

    One basal rate, ISF, carb ratio and target all day; SMB allowed with carbs on board;
    safety limits at oref0's defaults (max basal = 4 x current basal, capped by the daily
    multiplier 3), ``max_iob`` 3 h of basal unless given.
    """
    basal = round(basal_u_h, 3)
    isf = round(isf_mg_dl_u, 1)
    cr = round(carb_ratio_g_u, 1)
    target = round(target_mg_dl)
    max_iob = round(max_iob_u if max_iob_u is not None else 3.0 * basal, 2)
    return {
        "max_iob": max_iob,
        "type": "current",
        "dia": dia_h,
        "current_basal": basal,
        "max_daily_basal": basal,
        "max_basal": round(min(4.0 * basal, 3.0 * basal), 2),
        "min_bg": target,
        "max_bg": target,
        "target_bg": target,
        "sens": isf,
        "carb_ratio": cr,
        "out_units": "mg/dL",
        "basalprofile": [{"i": 0, "start": "00:00:00", "minutes": 0, "rate": basal}],
        "isfProfile": {
            "units": "mg/dL",
            "user_preferred_units": "mg/dL",
            "first": 1,
            "sensitivities": [
                {
                    "i": 0,
                    "x": 0,
                    "start": "00:00:00",
                    "offset": 0,
                    "endOffset": 1440,
                    "sensitivity": isf,
                }
            ],
        },
        "bg_targets": {
            "units": "mg/dL",
            "user_preferred_units": "mg/dL",
            "first": 1,
            "targets": [
                {
                    "i": 0,
                    "x": 0,
                    "start": "00:00:00",
                    "offset": 0,
                    "low": target,
                    "high": target,
                    "min_bg": target,
                    "max_bg": target,
                }
            ],
        },
        "carb_ratios": {
            "units": "grams",
            "schedule": [{"i": 0, "x": 0, "start": "00:00:00", "offset": 0, "ratio": cr, "r": cr}],
        },
        "max_daily_safety_multiplier": 3,
        "current_basal_safety_multiplier": 4,
        "autosens_max": 1.2,
        "autosens_min": 0.7,
        "min_5m_carbimpact": 8,
        "maxCOB": 120,
        "remainingCarbsCap": 90,
        "remainingCarbsFraction": 1.0,
        "bolussnooze_dia_divisor": 2,
        "skip_neutral_temps": False,
        "enableUAM": True,
        "enableSMB_with_COB": True,
        "enableSMB_after_carbs": False,
        "enableSMB_always": False,
        "enableSMB_with_temptarget": False,
        "enableSMB_high_bg": False,
        "enableSMB_high_bg_target": 110,
        "allowSMB_with_high_temptarget": False,
        "maxSMBBasalMinutes": 30,
        "maxUAMSMBBasalMinutes": 30,
        "SMBInterval": 3,
        "bolus_increment": 0.05,
        "maxDelta_bg_threshold": 0.2,
        "curve": "rapid-acting",
        "useCustomPeakTime": False,
        "insulinPeakTime": 75,
        "carbsReqThreshold": 1,
        "noisyCGMTargetMultiplier": 1.3,
        "suspend_zeros_iob": True,
        "sensitivity_raises_target": True,
        "resistance_lowers_target": False,
        "high_temptarget_raises_sensitivity": False,
        "low_temptarget_lowers_sensitivity": False,
        "exercise_mode": False,
        "half_basal_exercise_target": 160,
        "A52_risk_enable": False,
    }


def build_inputs(
    helpers: LoopHelpers,
    *,
    now: datetime,
    glucose_data: Sequence[JsonObject],
    pump_history: Sequence[JsonObject],
    carbs: Sequence[JsonObject],
    profile: JsonObject,
    currenttemp: JsonObject,
    reservoir_u: float,
    micro_bolus_allowed: bool = True,
) -> JsonObject:
    """The full determine-basal input tuple (``docs/telemetry.md``), from the histories."""
    clock = iso_ms(now)
    glucose_status = helpers.glucose_status(glucose_data)
    iob_data = helpers.iob(pump_history, profile, clock)
    meal_data = helpers.meal(
        pump_history,
        profile,
        profile["basalprofile"],
        clock,
        carbs=carbs,
        glucose_data=glucose_data,
    )
    return {
        "glucose_status": glucose_status,
        "currenttemp": currenttemp,
        "iob_data": iob_data,
        "profile": profile,
        "autosens": {"ratio": 1.0},
        "meal_data": meal_data,
        "micro_bolus_allowed": micro_bolus_allowed,
        "reservoir_data": round(reservoir_u, 2),
        "current_time": clock,
    }


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class StandInHelpers:
    """A pure-Python approximation of oref0's helper ops (tests without Node only).

    IOB: exponential decay (time constant DIA/3) of the insulin delivered above the
    scheduled basal; glucose status: last reading and 5/15/45-minute average deltas;
    meal: carbs of the last 4 h absorbed linearly over 3 h.
    """

    def glucose_status(self, glucose_data: Sequence[JsonObject]) -> JsonObject:
        if not glucose_data:
            raise InputError("glucose_data is empty")
        g = [float(e["glucose"]) for e in glucose_data]
        g0 = g[0]

        def avg_delta(n: int) -> float:
            pts = g[1 : n + 1]
            if not pts:
                return 0.0
            return round(sum((g0 - v) / (i + 1) for i, v in enumerate(pts)) / len(pts), 2)

        return {
            "glucose": g0,
            "delta": round(g0 - g[1], 2) if len(g) > 1 else 0.0,
            "short_avgdelta": avg_delta(3),
            "long_avgdelta": avg_delta(9),
            "date": glucose_data[0]["date"],
            "noise": 0,
        }

    def iob(self, history: Sequence[JsonObject], profile: JsonObject, clock: str) -> Any:
        now = _parse_time(clock)
        tau = float(profile["dia"]) * 60.0 / 3.0
        basal = float(profile["current_basal"])
        bolus_iob = basal_iob = 0.0
        temps = sorted(
            (e for e in history if e.get("_type") == "TempBasal"), key=lambda e: e["timestamp"]
        )
        durations = {
            e["timestamp"]: float(e["duration (min)"])
            for e in history
            if e.get("_type") == "TempBasalDuration"
        }
        for e in history:
            if e.get("_type") == "Bolus":
                age = (now - _parse_time(e["timestamp"])).total_seconds() / 60.0
                if age >= 0:
                    bolus_iob += float(e["amount"]) * math.exp(-age / tau)
        for i, e in enumerate(temps):
            start = _parse_time(e["timestamp"])
            end = start + timedelta(minutes=durations.get(e["timestamp"], 30.0))
            if i + 1 < len(temps):
                end = min(end, _parse_time(temps[i + 1]["timestamp"]))
            end = min(end, now)
            t = start
            while t < end:
                age = (now - t).total_seconds() / 60.0
                basal_iob += (float(e["rate"]) - basal) / 12.0 * math.exp(-age / tau)
                t += timedelta(minutes=5)
        iob = round(bolus_iob + basal_iob, 3)
        return [
            {
                "iob": iob,
                "basaliob": round(basal_iob, 3),
                "bolusiob": round(bolus_iob, 3),
                "activity": round(iob / tau, 5),
                "time": clock,
            }
        ]

    def meal(
        self,
        history: Sequence[JsonObject],
        profile: JsonObject,
        basalprofile: Sequence[JsonObject],
        clock: str,
        *,
        carbs: Sequence[JsonObject] = (),
        glucose_data: Sequence[JsonObject] = (),
    ) -> JsonObject:
        now = _parse_time(clock)
        total = cob = 0.0
        for entry in carbs:
            age = (now - _parse_time(entry["created_at"])).total_seconds() / 60.0
            if 0 <= age <= 240:
                total += float(entry["carbs"])
                cob += float(entry["carbs"]) * max(0.0, 1.0 - age / 180.0)
        return {"carbs": round(total, 1), "mealCOB": round(cob, 1), "reason": "stand-in"}


class StandInController:
    """A deterministic proportional controller with the oref0 input tuple (tests only).

    eventual = glucose - IOB x ISF; rate = basal + (eventual - target) / ISF, clamped to
    ``0..max_basal`` and rounded to 0.05 U/h, for 30 minutes; no micro-boluses.
    """

    algorithm = "medwarden-standin-proportional"
    version = "1.0.0"

    def decide(self, inputs: JsonObject) -> JsonObject:
        try:
            status = inputs["glucose_status"]
            profile = inputs["profile"]
            iob_data = inputs["iob_data"]
            iob = float((iob_data[0] if isinstance(iob_data, list) else iob_data)["iob"])
            bg = float(status["glucose"])
            isf = float(profile["sens"])
            basal = float(profile["current_basal"])
            target = float(profile["min_bg"])
            max_basal = float(profile["max_basal"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputError(f"stand-in controller cannot read its inputs: {exc!r}") from None
        eventual = bg - iob * isf
        rate = min(max(basal + (eventual - target) / isf, 0.0), max_basal)
        rate = round(round(rate / 0.05) * 0.05, 2)
        raw = {
            "rate": rate,
            "duration": 30,
            "eventualBG": round(eventual),
            "bg": bg,
            "reason": f"eventual {eventual:.0f} vs target {target:.0f}",
        }
        return {"rate_u_h": rate, "duration_min": 30, "smb_u": 0.0, "raw": raw}

    def close(self) -> None:
        return None
