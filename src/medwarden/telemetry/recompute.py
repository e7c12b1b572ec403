"""Compare a logged controller decision with its re-computation and with what was executed.

The backend re-runs the released algorithm a device logged (see
:mod:`medwarden.telemetry.controllers`) on the logged input tuple and compares, field by
field, the normalised outputs ``{"rate_u_h", "duration_min", "smb_u"}``; optionally it also
compares the decision with the ``actuator_command`` bodies that executed it.  The result is
one of three verdicts, and it **fails closed**: anything that cannot be checked (unknown
algorithm, runner failure, malformed logged output) is ``cannot_recompute`` with a reason,
never ``match``.

Tolerances (:class:`Tolerances`, see ``docs/controllers.md`` for the reasoning):

* decision vs re-computation: ``rate_u_h`` ±0.005 U/h and ``smb_u`` ±0.005 U, durations
  exact.  The same release on the same inputs is deterministic; the finest quantum in
  oref0 0.7.1's outputs is 0.01 U/h (the SMB low temp ``round(basal*d/30, 2)``; every other
  rate goes through ``round_basal`` to 0.025/0.05/0.1 U/h, SMBs are floored to the bolus
  increment, >= 0.025 U).  Half the finest quantum absorbs binary floating-point noise
  (``0.35000000000000003``) while any difference of one real step is a mismatch.
* decision vs actuator command: ``rate_u_h`` ±0.025 U/h (half the pump's 0.05 U/h basal
  step: the pump may round the 0.01-quantised SMB low temp to its own step), bolus
  ``units`` ±0.005 U, durations exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from medwarden.errors import InputError, MedwardenError
from medwarden.telemetry.controllers.base import Controller
from medwarden.telemetry.records import JsonObject

__all__ = [
    "DecisionOutput",
    "FieldDifference",
    "RecomputeResult",
    "Source",
    "Tolerances",
    "Verdict",
    "compare_commands",
    "compare_decision",
    "compare_outputs",
    "parse_output",
    "recompute_decision",
]

_EPS = 1e-9


class Verdict(StrEnum):
    """The outcome of a re-computation check."""

    MATCH = "match"
    MISMATCH = "mismatch"
    CANNOT_RECOMPUTE = "cannot_recompute"


class Source(StrEnum):
    """What the logged decision was compared with."""

    RECOMPUTED = "recomputed"
    COMMAND = "command"


@dataclass(frozen=True, slots=True)
class Tolerances:
    """Absolute tolerances (U/h and U); see the module docstring for why these values."""

    rate_u_h: float = 0.005
    smb_u: float = 0.005
    command_rate_u_h: float = 0.025
    command_units: float = 0.005

    def __post_init__(self) -> None:
        for name in ("rate_u_h", "smb_u", "command_rate_u_h", "command_units"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value < 1:
                raise InputError(f"tolerance {name} must be a number in [0, 1), not {value!r}")


@dataclass(frozen=True, slots=True)
class DecisionOutput:
    """A normalised controller output: rate and duration both set or both None (no change)."""

    rate_u_h: float | None
    duration_min: int | None
    smb_u: float


@dataclass(frozen=True, slots=True)
class FieldDifference:
    """One field that differs: the logged value, what it was compared with, the tolerance."""

    source: Source
    field: str
    logged: Any
    expected: Any
    tolerance: float | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class RecomputeResult:
    """A verdict; differences for ``mismatch``; a reason for ``cannot_recompute``."""

    verdict: Verdict
    differences: tuple[FieldDifference, ...] = ()
    reason: str | None = None
    recomputed: DecisionOutput | None = None

    @property
    def matches(self) -> bool:
        """True only for a verified match."""
        return self.verdict is Verdict.MATCH


def _as_float(value: object) -> float | None:
    """``value`` as a finite float, or None when it is not a finite number (bools are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _duration(value: object) -> int | None:
    """``value`` as a duration (an integer >= 0), or None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def parse_output(output: object, what: str = "output") -> DecisionOutput:
    """Read a normalised output object; malformed or negative values raise InputError."""
    if not isinstance(output, Mapping):
        raise InputError(f"{what} must be an object")
    raw_rate, raw_duration = output.get("rate_u_h"), output.get("duration_min")
    if (raw_rate is None) != (raw_duration is None):
        raise InputError(f"{what}: rate_u_h and duration_min must both be set or both be null")
    rate, duration, smb = (
        _as_float(raw_rate),
        _duration(raw_duration),
        _as_float(output.get("smb_u")),
    )
    if raw_rate is not None and (rate is None or rate < 0):
        raise InputError(f"{what}: rate_u_h must be a number >= 0, not {raw_rate!r}")
    if raw_duration is not None and duration is None:
        raise InputError(f"{what}: duration_min must be an integer >= 0, not {raw_duration!r}")
    if smb is None or smb < 0:
        raise InputError(f"{what}: smb_u must be a number >= 0, not {output.get('smb_u')!r}")
    return DecisionOutput(rate_u_h=rate, duration_min=duration, smb_u=smb)


def _close(a: float | None, b: float | None, tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= tolerance + _EPS


def _output_differences(
    logged: DecisionOutput, other: DecisionOutput, tol: Tolerances
) -> list[FieldDifference]:
    diffs: list[FieldDifference] = []
    src = Source.RECOMPUTED
    if not _close(logged.rate_u_h, other.rate_u_h, tol.rate_u_h):
        diffs.append(
            FieldDifference(src, "rate_u_h", logged.rate_u_h, other.rate_u_h, tol.rate_u_h)
        )
    if logged.duration_min != other.duration_min:
        diffs.append(FieldDifference(src, "duration_min", logged.duration_min, other.duration_min))
    if not _close(logged.smb_u, other.smb_u, tol.smb_u):
        diffs.append(FieldDifference(src, "smb_u", logged.smb_u, other.smb_u, tol.smb_u))
    return diffs


def compare_outputs(
    logged: object, recomputed: object, tolerances: Tolerances | None = None
) -> RecomputeResult:
    """Compare a logged output object with a re-computed one (see the module docstring)."""
    return compare_decision(logged, recomputed, (), tolerances)


def _command_rate(command: Mapping[str, Any], index: int) -> tuple[float, int] | str:
    rate, duration = _as_float(command.get("rate_u_h")), _duration(command.get("duration_min"))
    if rate is None or rate < 0:
        return f"commands[{index}] temp_basal has no valid rate_u_h"
    if duration is None:
        return f"commands[{index}] temp_basal has no valid duration_min"
    return rate, duration


def _temp_differences(
    decided: DecisionOutput, temps: list[tuple[int, Mapping[str, Any]]], tol: Tolerances
) -> list[FieldDifference]:
    src = Source.COMMAND
    if decided.rate_u_h is None:
        return [
            FieldDifference(
                src, f"commands[{i}].kind", "temp_basal", None, note="no change decided"
            )
            for i, _ in temps
        ]
    if len(temps) != 1:
        note = "no temp_basal command" if not temps else "more than one temp_basal command"
        return [FieldDifference(src, "temp_basal", len(temps), 1, note=note)]
    index, command = temps[0]
    parsed = _command_rate(command, index)
    if isinstance(parsed, str):
        return [FieldDifference(src, f"commands[{index}]", dict(command), None, note=parsed)]
    rate, duration = parsed
    diffs: list[FieldDifference] = []
    if not _close(rate, decided.rate_u_h, tol.command_rate_u_h):
        diffs.append(
            FieldDifference(
                src, f"commands[{index}].rate_u_h", rate, decided.rate_u_h, tol.command_rate_u_h
            )
        )
    if duration != decided.duration_min:
        diffs.append(
            FieldDifference(src, f"commands[{index}].duration_min", duration, decided.duration_min)
        )
    return diffs


def _bolus_differences(
    decided: DecisionOutput, boluses: list[tuple[int, Mapping[str, Any]]], tol: Tolerances
) -> list[FieldDifference]:
    total = 0.0
    for index, command in boluses:
        units = _as_float(command.get("units"))
        if units is None or units < 0:
            note = "bolus command has no valid units"
            return [
                FieldDifference(
                    Source.COMMAND, f"commands[{index}]", dict(command), None, note=note
                )
            ]
        total += units
    if _close(total, decided.smb_u, tol.command_units):
        return []
    return [FieldDifference(Source.COMMAND, "bolus.units", total, decided.smb_u, tol.command_units)]


def compare_commands(
    decided: DecisionOutput,
    commands: Sequence[Mapping[str, Any]],
    tolerances: Tolerances | None = None,
) -> tuple[FieldDifference, ...]:
    """Differences between a decision and the ``actuator_command`` bodies that executed it.

    ``commands`` must be *all* commands executing the decision: a decided temp needs exactly
    one ``temp_basal`` command, "no change" needs none; bolus ``units`` must add up to
    ``smb_u``; ``suspend``/``resume`` or unknown kinds are never what a decision asked for.
    """
    tol = tolerances or Tolerances()
    temps: list[tuple[int, Mapping[str, Any]]] = []
    boluses: list[tuple[int, Mapping[str, Any]]] = []
    diffs: list[FieldDifference] = []
    for index, command in enumerate(commands):
        kind = command.get("kind") if isinstance(command, Mapping) else None
        if kind == "temp_basal":
            temps.append((index, command))
        elif kind == "bolus":
            boluses.append((index, command))
        else:
            note = "the decision asked for no such command"
            diffs.append(
                FieldDifference(Source.COMMAND, f"commands[{index}].kind", kind, None, note=note)
            )
    diffs += _temp_differences(decided, temps, tol)
    diffs += _bolus_differences(decided, boluses, tol)
    return tuple(diffs)


def compare_decision(
    logged: object,
    recomputed: object,
    commands: Sequence[Mapping[str, Any]] = (),
    tolerances: Tolerances | None = None,
) -> RecomputeResult:
    """Compare logged output with the re-computed output and (if given) the commands."""
    tol = tolerances or Tolerances()
    try:
        logged_out = parse_output(logged, "logged output")
    except InputError as exc:
        return RecomputeResult(Verdict.CANNOT_RECOMPUTE, reason=exc.message)
    try:
        other = parse_output(recomputed, "re-computed output")
    except InputError as exc:
        return RecomputeResult(Verdict.CANNOT_RECOMPUTE, reason=exc.message)
    diffs = _output_differences(logged_out, other, tol)
    diffs += compare_commands(logged_out, commands, tol) if commands else ()
    verdict = Verdict.MISMATCH if diffs else Verdict.MATCH
    return RecomputeResult(verdict, tuple(diffs), recomputed=other)


def recompute_decision(
    body: Mapping[str, Any],
    lookup: Callable[[str, str], Controller],
    commands: Sequence[Mapping[str, Any]] = (),
    tolerances: Tolerances | None = None,
) -> RecomputeResult:
    """Re-run a ``controller_decision`` body with the runner ``lookup`` returns and compare.

    ``lookup`` is e.g. :meth:`ControllerRegistry.get`.  Every failure on the way (unknown
    algorithm, bad inputs, runner crash or timeout) becomes ``cannot_recompute`` naming it.
    """
    algorithm, version = body.get("algorithm"), body.get("algorithm_version")
    inputs, logged = body.get("inputs"), body.get("output")
    if not isinstance(algorithm, str) or not isinstance(version, str):
        return RecomputeResult(
            Verdict.CANNOT_RECOMPUTE, reason="decision names no algorithm/version"
        )
    if not isinstance(inputs, dict):
        return RecomputeResult(Verdict.CANNOT_RECOMPUTE, reason="decision has no inputs object")
    try:
        controller = lookup(algorithm, version)
        recomputed: JsonObject = controller.decide(inputs)
    except MedwardenError as exc:
        return RecomputeResult(Verdict.CANNOT_RECOMPUTE, reason=f"[{exc.code}] {exc.message}")
    return compare_decision(logged, recomputed, commands, tolerances)
