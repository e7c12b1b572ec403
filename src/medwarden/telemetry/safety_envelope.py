"""An independent safety envelope for closed-loop insulin decisions and commands.

Re-computation (:mod:`medwarden.telemetry.recompute`) proves that a device ran its algorithm
faithfully; it cannot tell whether the algorithm, its settings or its inputs made an unsafe
decision.  This envelope is a second, *diverse* check written from first principles (not a
port of oref0): a few limits derived from the profile the device logged in the decision's
inputs, plus configured absolute bounds, and rules that name what they flag.

Limits (:func:`derive_limits`):

* ``max_basal`` = ``profile.max_basal`` (U/h), ``max_iob`` = ``profile.max_iob`` (U),
  ``scheduled_basal`` = ``profile.current_basal`` (U/h);
* ``suspend_threshold`` = max(``config.low_glucose_floor_mg_dl`` (70 mg/dL, the consensus
  level-1 hypoglycaemia limit), ``config.min_bg_fraction`` (0.7) x ``profile.min_bg``).

Rules (:class:`Rule`), applied to the insulin an output or command asks for:

* ``negative_value`` / ``absurd_value``: a negative rate, duration or bolus; a rate above
  ``config.max_rate_u_h`` (35 U/h), a bolus above ``config.max_bolus_u`` (10 U) or a
  duration above ``config.max_duration_min`` (120 min) - whatever the profile says;
* ``rate_above_max_basal``: a temp rate above ``max_basal`` by more than half the pump's
  basal step (``config.rate_step_u_h``, 0.05 U/h: rates are rounded to it);
* ``projected_iob_above_max_iob``: ``iob + smb`` above ``max_iob``;
* ``insulin_when_low``: glucose below ``suspend_threshold`` and any insulin above the
  scheduled basal beyond half a basal step (a higher temp, or a running higher temp left
  unchanged) or any bolus;
* ``insulin_when_falling_to_low``: the same while glucose is above the threshold but
  projected below it within ``config.horizon_min`` (30 min) at ``short_avgdelta`` (the
  15-minute average trend, mg/dL per 5 min; ``delta`` only when there is no average);
* ``limits_unavailable``: the profile or glucose status lacks what a limit needs - the
  envelope fails closed and says so instead of passing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from medwarden.errors import InputError

__all__ = [
    "EnvelopeConfig",
    "EnvelopeResult",
    "InsulinRequest",
    "Limits",
    "Rule",
    "Violation",
    "check_command",
    "check_decision",
    "check_request",
    "derive_limits",
]

_EPS = 1e-9


class Rule(StrEnum):
    """The safety rules; a violation names exactly one."""

    LIMITS_UNAVAILABLE = "limits_unavailable"
    NEGATIVE_VALUE = "negative_value"
    ABSURD_VALUE = "absurd_value"
    RATE_ABOVE_MAX_BASAL = "rate_above_max_basal"
    PROJECTED_IOB_ABOVE_MAX_IOB = "projected_iob_above_max_iob"
    INSULIN_WHEN_LOW = "insulin_when_low"
    INSULIN_WHEN_FALLING_TO_LOW = "insulin_when_falling_to_low"


@dataclass(frozen=True, slots=True)
class EnvelopeConfig:
    """Configured bounds that do not come from the device's profile."""

    low_glucose_floor_mg_dl: float = 70.0
    min_bg_fraction: float = 0.7
    horizon_min: float = 30.0
    max_rate_u_h: float = 35.0
    max_bolus_u: float = 10.0
    max_duration_min: int = 120
    rate_step_u_h: float = 0.05
    """The pump's basal step: controllers round rates to it, so a rate counts as above a
    limit only beyond half a step (oref0 rounds a capped 3.54 U/h to 3.55 U/h)."""

    def __post_init__(self) -> None:
        checks = (
            0 < self.low_glucose_floor_mg_dl < 200,
            0 <= self.min_bg_fraction <= 1,
            0 < self.horizon_min <= 240,
            self.max_rate_u_h > 0,
            self.max_bolus_u > 0,
            self.max_duration_min > 0,
            0 <= self.rate_step_u_h <= 1,
        )
        if not all(checks):
            raise InputError("safety envelope settings are out of range", details=(repr(self),))


@dataclass(frozen=True, slots=True)
class Limits:
    """What the envelope derived from the logged inputs."""

    max_basal_u_h: float
    max_iob_u: float
    scheduled_basal_u_h: float
    suspend_threshold_mg_dl: float
    glucose_mg_dl: float
    projected_glucose_mg_dl: float
    iob_u: float
    running_temp_u_h: float | None


@dataclass(frozen=True, slots=True)
class InsulinRequest:
    """Insulin asked for: a temp (rate and duration, None for "no change") and a bolus."""

    rate_u_h: float | None
    duration_min: float | None
    bolus_u: float
    suspend: bool = False


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: which, where, the value and the limit it broke."""

    rule: Rule
    field: str
    message: str
    value: float | None = None
    limit: float | None = None


@dataclass(frozen=True, slots=True)
class EnvelopeResult:
    """Violations (empty when within the envelope) and the limits used, if derivable."""

    violations: tuple[Violation, ...]
    limits: Limits | None

    @property
    def ok(self) -> bool:
        """True when no rule is violated."""
        return not self.violations

    @property
    def rules(self) -> frozenset[Rule]:
        """The rules violated."""
        return frozenset(v.rule for v in self.violations)


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _need(source: object, key: str, where: str) -> float:
    value = _num(source.get(key)) if isinstance(source, Mapping) else None
    if value is None:
        raise InputError(f"{where}.{key} is missing or not a number")
    return value


def _first(value: object) -> object:
    return value[0] if isinstance(value, list) and value else value


def _running_temp(currenttemp: object) -> float | None:
    if not isinstance(currenttemp, Mapping):
        return None
    rate, duration = _num(currenttemp.get("rate")), _num(currenttemp.get("duration"))
    return rate if rate is not None and duration is not None and duration > 0 else None


def derive_limits(inputs: Mapping[str, Any], config: EnvelopeConfig | None = None) -> Limits:
    """Limits from a logged input tuple; a missing or non-numeric source raises InputError."""
    cfg = config or EnvelopeConfig()
    profile, status = inputs.get("profile"), inputs.get("glucose_status")
    bg = _need(status, "glucose", "glucose_status")
    trend = status if isinstance(status, Mapping) else {}
    # The 15-minute average, not one 5-minute step: CGM noise on a single delta, projected
    # over 30 minutes, is multiplied by six.  The single delta only when no average exists.
    slope = _num(trend.get("short_avgdelta"))
    if slope is None:
        slope = _num(trend.get("delta"))
    if slope is None:
        raise InputError("glucose_status has no delta: the glucose trend is unknown")
    min_bg = _need(profile, "min_bg", "profile")
    threshold = max(cfg.low_glucose_floor_mg_dl, cfg.min_bg_fraction * min_bg)
    return Limits(
        max_basal_u_h=_need(profile, "max_basal", "profile"),
        max_iob_u=_need(profile, "max_iob", "profile"),
        scheduled_basal_u_h=_need(profile, "current_basal", "profile"),
        suspend_threshold_mg_dl=threshold,
        glucose_mg_dl=bg,
        projected_glucose_mg_dl=bg + slope * cfg.horizon_min / 5,
        iob_u=_need(_first(inputs.get("iob_data")), "iob", "iob_data"),
        running_temp_u_h=_running_temp(inputs.get("currenttemp")),
    )


def _value_violations(req: InsulinRequest, cfg: EnvelopeConfig) -> list[Violation]:
    out: list[Violation] = []
    fields = (
        ("rate_u_h", req.rate_u_h, cfg.max_rate_u_h),
        ("duration_min", req.duration_min, float(cfg.max_duration_min)),
        ("smb_u", req.bolus_u, cfg.max_bolus_u),
    )
    for name, value, bound in fields:
        if value is None:
            continue
        if not math.isfinite(value) or value < 0:
            out.append(
                Violation(
                    Rule.NEGATIVE_VALUE, name, f"{name} {value} is negative or not a number", value
                )
            )
        elif value > bound + _EPS:
            msg = f"{name} {value} is above the absolute bound {bound}"
            out.append(Violation(Rule.ABSURD_VALUE, name, msg, value, bound))
    return out


def _effective_rate(req: InsulinRequest, limits: Limits) -> float:
    """The basal rate that will run after the request (suspend: 0; no change: the running one)."""
    if req.suspend:
        return 0.0
    if req.rate_u_h is not None and (req.duration_min is None or req.duration_min > 0):
        return req.rate_u_h
    if req.rate_u_h is not None:  # duration 0 cancels the running temp: scheduled basal
        return limits.scheduled_basal_u_h
    if limits.running_temp_u_h is not None:
        return limits.running_temp_u_h
    return limits.scheduled_basal_u_h


def _low_violations(req: InsulinRequest, limits: Limits, slack: float) -> list[Violation]:
    threshold = limits.suspend_threshold_mg_dl
    if limits.glucose_mg_dl < threshold:
        rule, state = Rule.INSULIN_WHEN_LOW, f"glucose {limits.glucose_mg_dl:g} mg/dL"
    elif limits.projected_glucose_mg_dl < threshold:
        rule = Rule.INSULIN_WHEN_FALLING_TO_LOW
        state = f"glucose projected to {limits.projected_glucose_mg_dl:g} mg/dL"
    else:
        return []
    out: list[Violation] = []
    rate = _effective_rate(req, limits)
    if rate > limits.scheduled_basal_u_h + slack + _EPS:
        msg = (
            f"{state} below {threshold:g} mg/dL, yet basal {rate:g} U/h runs above the "
            f"scheduled {limits.scheduled_basal_u_h:g} U/h"
        )
        out.append(Violation(rule, "rate_u_h", msg, rate, limits.scheduled_basal_u_h))
    if req.bolus_u > _EPS:
        msg = f"{state} below {threshold:g} mg/dL, yet a bolus of {req.bolus_u:g} U"
        out.append(Violation(rule, "smb_u", msg, req.bolus_u, 0.0))
    return out


def _limit_violations(req: InsulinRequest, limits: Limits, slack: float) -> list[Violation]:
    out: list[Violation] = []
    if req.rate_u_h is not None and req.rate_u_h > limits.max_basal_u_h + slack + _EPS:
        msg = f"temp rate {req.rate_u_h:g} U/h is above max_basal {limits.max_basal_u_h:g} U/h"
        out.append(
            Violation(
                Rule.RATE_ABOVE_MAX_BASAL, "rate_u_h", msg, req.rate_u_h, limits.max_basal_u_h
            )
        )
    projected = limits.iob_u + max(req.bolus_u, 0.0)
    if req.bolus_u > _EPS and projected > limits.max_iob_u + _EPS:
        msg = (
            f"IOB {limits.iob_u:g} U + bolus {req.bolus_u:g} U = {projected:g} U is above "
            f"max_iob {limits.max_iob_u:g} U"
        )
        out.append(
            Violation(Rule.PROJECTED_IOB_ABOVE_MAX_IOB, "smb_u", msg, projected, limits.max_iob_u)
        )
    return out


def check_request(
    inputs: Mapping[str, Any], request: InsulinRequest, config: EnvelopeConfig | None = None
) -> EnvelopeResult:
    """Apply every rule to ``request`` given the logged ``inputs`` (see the module doc)."""
    cfg = config or EnvelopeConfig()
    violations = _value_violations(request, cfg)
    limits: Limits | None = None
    reason = "the decision's inputs are not an object"
    if isinstance(inputs, Mapping):
        try:
            limits = derive_limits(inputs, cfg)
        except InputError as exc:
            reason = exc.message
    if limits is None:
        violations.append(Violation(Rule.LIMITS_UNAVAILABLE, "inputs", reason))
        return EnvelopeResult(tuple(violations), None)
    slack = cfg.rate_step_u_h / 2
    violations += _limit_violations(request, limits, slack)
    violations += _low_violations(request, limits, slack)
    return EnvelopeResult(tuple(violations), limits)


def _field(source: Mapping[str, Any], key: str) -> float | None:
    value = source.get(key)
    number = _num(value)
    if value is not None and number is None:
        return math.nan  # present but not a number: reported as a negative/invalid value
    return number


def check_decision(
    inputs: Mapping[str, Any], output: Mapping[str, Any], config: EnvelopeConfig | None = None
) -> EnvelopeResult:
    """Check a decision's normalised output (``rate_u_h``, ``duration_min``, ``smb_u``)."""
    request = InsulinRequest(
        rate_u_h=_field(output, "rate_u_h"),
        duration_min=_field(output, "duration_min"),
        bolus_u=_field(output, "smb_u") or 0.0,
    )
    return check_request(inputs, request, config)


def check_command(
    inputs: Mapping[str, Any], command: Mapping[str, Any], config: EnvelopeConfig | None = None
) -> EnvelopeResult:
    """Check an ``actuator_command`` body against the inputs of the decision it executes."""
    kind = command.get("kind")
    if kind == "temp_basal":
        request = InsulinRequest(
            _field(command, "rate_u_h") if "rate_u_h" in command else math.nan,
            _field(command, "duration_min") if "duration_min" in command else math.nan,
            0.0,
        )
    elif kind == "bolus":
        units = _field(command, "units")
        request = InsulinRequest(None, None, math.nan if units is None else units)
    elif kind == "suspend":
        request = InsulinRequest(None, None, 0.0, suspend=True)
    elif kind == "resume":
        request = InsulinRequest(None, None, 0.0)
    else:
        violation = Violation(Rule.ABSURD_VALUE, "kind", f"unknown command kind {kind!r}")
        return EnvelopeResult((violation,), None)
    return check_request(inputs, request, config)
