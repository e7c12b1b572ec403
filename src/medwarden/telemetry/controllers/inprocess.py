"""In-process Python controllers: a small reference controller for tests and examples.

:class:`ProportionalBasalController` (``medwarden-proportional-basal`` version ``1``) is a
deliberately simple, fully deterministic controller over the same input tuple as oref0
(it reads ``glucose_status``, ``iob_data`` and ``profile`` only).  It is
**not** a medical algorithm: it exists so that registry, re-computation and safety-envelope
code can be exercised without Node, and as an example of a second algorithm.

Rule: with ``target = (min_bg + max_bg) / 2`` and ``threshold = min_bg - (min_bg - 40) / 2``
(oref0's low threshold formula), glucose below ``threshold`` or a predicted glucose
``bg + 6 * delta`` below it gives a 30-minute zero temp; otherwise the rate is
``current_basal + 2 * gain * ((bg - target) / sens - iob)`` (the insulin still needed,
delivered over 30 minutes at ``gain`` = 0.5), capped so that the extra insulin over 30 minutes
cannot push ``iob`` over ``max_iob``, clamped to ``[0, max_basal]`` and rounded down to
0.05 U/h.  Never an SMB.  The constants are part of version ``1``: they are not settings,
so that a logged ``(algorithm, version)`` always names one behaviour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from medwarden.errors import InputError, Location
from medwarden.telemetry.records import JsonObject

__all__ = ["ProportionalBasalController"]

_INCREMENT = 0.05
_GAIN = 0.5
_DURATION_MIN = 30


def _num(source: Mapping[str, Any], key: str, pointer: str) -> float:
    value = source.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(
            f"controller input {pointer}/{key} must be a finite number",
            location=Location(pointer=f"{pointer}/{key}"),
        )
    return float(value)


def _obj(inputs: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = inputs.get(key)
    if isinstance(value, list) and value:
        value = value[0]
    if not isinstance(value, Mapping):
        raise InputError(
            f"controller input /inputs/{key} must be an object",
            location=Location(pointer=f"/inputs/{key}"),
        )
    return value


@dataclass(frozen=True, slots=True)
class ProportionalBasalController:
    """A reference proportional temp-basal controller (see the module docstring)."""

    @property
    def algorithm(self) -> str:
        """``medwarden-proportional-basal``."""
        return "medwarden-proportional-basal"

    @property
    def version(self) -> str:
        """``1``."""
        return "1"

    def decide(self, inputs: JsonObject) -> JsonObject:
        """Return the normalised output for the logged inputs."""
        if not isinstance(inputs, Mapping):
            raise InputError("controller inputs must be an object")
        status, iob, profile = (_obj(inputs, k) for k in ("glucose_status", "iob_data", "profile"))
        bg = _num(status, "glucose", "/inputs/glucose_status")
        delta = _num(status, "delta", "/inputs/glucose_status")
        iob_u = _num(iob, "iob", "/inputs/iob_data")
        p = {
            k: _num(profile, k, "/inputs/profile")
            for k in ("current_basal", "max_basal", "max_iob", "min_bg", "max_bg", "sens")
        }
        if p["sens"] <= 0:
            raise InputError("controller input /inputs/profile/sens must be positive")
        threshold = p["min_bg"] - 0.5 * (p["min_bg"] - 40)
        if bg < threshold or bg + 6 * delta < threshold:
            rate = 0.0
        else:
            target = (p["min_bg"] + p["max_bg"]) / 2
            needed_u = (bg - target) / p["sens"] - iob_u
            rate = p["current_basal"] + 2 * _GAIN * needed_u
            headroom_u_h = max(0.0, (p["max_iob"] - iob_u) * 2)  # 30 min: U/h = 2 * U
            rate = min(rate, p["current_basal"] + headroom_u_h, p["max_basal"])
            rate = max(0.0, rate)
        rate = math.floor(rate / _INCREMENT + 1e-9) * _INCREMENT
        return {
            "rate_u_h": round(rate, 2),
            "duration_min": _DURATION_MIN,
            "smb_u": 0.0,
            "raw": {"rate": round(rate, 2), "duration": _DURATION_MIN},
        }

    def close(self) -> None:
        """Nothing to release."""
