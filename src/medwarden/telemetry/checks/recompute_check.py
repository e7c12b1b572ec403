"""Check ``controller_recompute``: re-run each controller decision and compare what was done.

For every ``controller_decision`` (see :mod:`medwarden.telemetry.checks.closed_loop`):

* ``decision_mismatch`` (high) -- the registered runner of the decision's
  ``(algorithm, algorithm_version)`` re-computes a different output from the logged
  inputs (:func:`~medwarden.telemetry.recompute.recompute_decision`).  Names the decision.
* ``cannot_recompute`` (medium, fail closed) -- no runner is registered for the
  algorithm/version, the inputs or the logged output are malformed, or the runner
  failed.  Names the decision; the detail carries the reason.
* ``decision_input_mismatch`` (high) -- the glucose the decision's inputs carry
  (``inputs.glucose_status.glucose``) differs by more than 0.5 mg/dL from the latest
  ``sensor_reading`` before the decision, or no reading precedes it: the device logged
  one value and fed another to its controller.  Names the reading and the decision.
* ``command_decision_mismatch`` (high) -- the ``actuator_command`` records naming the
  decision (``decision_seq``) are not what it decided
  (:func:`~medwarden.telemetry.recompute.compare_commands`), or a decided change was not
  executed by any command.  Judged once the loop moved on (the next decision or a new
  boot decides it); names the decision and its commands.  A command whose
  ``decision_seq`` names a record that is not a decision is reported at once.

The controllers are injected (a :class:`ControllerLookup`, e.g. a
:class:`~medwarden.telemetry.controllers.registry.ControllerRegistry`); verified outcomes
are cached per record hash, since the same decision is seen again in later look-backs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from medwarden.errors import InputError
from medwarden.telemetry.checks.base import (
    CHECK_ERROR,
    Candidate,
    CheckInput,
    Lookback,
    Severity,
    StoredRecord,
)
from medwarden.telemetry.checks.closed_loop import (
    Decision,
    closing_record,
    commands_of,
    decisions,
    finite,
    latest_reading_before,
    named_decision,
)
from medwarden.telemetry.checks.limits import DeviceLimits
from medwarden.telemetry.controllers.base import Controller
from medwarden.telemetry.recompute import (
    FieldDifference,
    RecomputeResult,
    Source,
    Tolerances,
    Verdict,
    compare_commands,
    parse_output,
    recompute_decision,
)
from medwarden.telemetry.records import RecordType

__all__ = ["INPUT_GLUCOSE_TOLERANCE_MG_DL", "ControllerLookup", "ControllerRecomputeCheck"]

INPUT_GLUCOSE_TOLERANCE_MG_DL = 0.5
"""Largest tolerated difference between the logged reading and the decision's glucose."""

_CACHE_LIMIT = 4096


class ControllerLookup(Protocol):
    """Where runners are found by ``(algorithm, version)`` (``ControllerRegistry``)."""

    def get(self, algorithm: str, version: str) -> Controller:
        """The runner; raise a MedwardenError (ConfigError) when none is registered."""
        ...


def _differences(diffs: Sequence[FieldDifference]) -> str:
    parts = []
    for d in diffs:
        if d.source is Source.COMMAND:
            text = f"{d.field} {d.logged!r} vs decided {d.expected!r}"
        else:
            text = f"{d.field} logged {d.logged!r} vs re-computed {d.expected!r}"
        if d.tolerance is not None:
            text += f" (±{d.tolerance:g})"
        if d.note:
            text += f" ({d.note})"
        parts.append(text)
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class ControllerRecomputeCheck:
    """Re-computation, input and command consistency of every controller decision."""

    controllers: ControllerLookup
    tolerances: Tolerances = field(default_factory=Tolerances)
    check_id: str = "controller_recompute"
    _cache: dict[str, RecomputeResult] = field(
        default_factory=dict, compare=False, repr=False, init=False
    )

    def lookback(self, limits: DeviceLimits) -> Lookback:
        """The command window, the latest earlier decision and sensor reading."""
        return Lookback(
            records=1,
            duration=timedelta(minutes=limits.command_match_window_min),
            last_of=frozenset({RecordType.CONTROLLER_DECISION, RecordType.SENSOR_READING}),
        )

    def evaluate(self, data: CheckInput) -> Iterator[Candidate]:
        """Yield re-computation, input and command findings (see the module docstring)."""
        records = data.records
        for decision in decisions(records):
            yield from self._recomputed(decision)
            yield from _input(records, decision)
            closing = closing_record(records, decision)
            if closing is not None:
                yield from self._executed(records, decision, closing)
        for index, stored in enumerate(records):
            if stored.kind is RecordType.ACTUATOR_COMMAND:
                yield from _misnamed(records, index)

    def _result(self, decision: Decision) -> RecomputeResult:
        key = decision.stored.record_hash
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = recompute_decision(decision.body, self.controllers.get, tolerances=self.tolerances)
        if result.verdict is not Verdict.CANNOT_RECOMPUTE:  # a failure may be transient
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = result
        return result

    def _recomputed(self, decision: Decision) -> Iterator[Candidate]:
        result = self._result(decision)
        stored = decision.stored
        name = f"{stored.label()} ({_algorithm(decision)})"
        if result.verdict is Verdict.MISMATCH:
            yield Candidate(
                "decision_mismatch",
                Severity.HIGH,
                (stored,),
                f"re-computing {name} gives another output: {_differences(result.differences)}",
                decided_by=stored,
            )
        elif result.verdict is Verdict.CANNOT_RECOMPUTE:
            yield Candidate(
                "cannot_recompute",
                Severity.MEDIUM,
                (stored,),
                f"cannot re-compute {name}: {result.reason}",
                decided_by=stored,
            )

    def _executed(
        self, records: Sequence[StoredRecord], decision: Decision, closing: StoredRecord
    ) -> Iterator[Candidate]:
        try:
            decided = parse_output(decision.output, "logged output")
        except InputError:
            return  # reported as cannot_recompute
        named, total = commands_of(records, decision, closing)
        changes = decided.rate_u_h is not None or decided.smb_u > 0
        if not named and (total or not changes):
            return  # nothing decided, or commands that name no decision: cannot attribute
        diffs = compare_commands(decided, [c.record.body for c in named], self.tolerances)
        if not diffs:
            return
        what = _differences(diffs) if named else "no actuator_command executed the decided change"
        yield Candidate(
            "command_decision_mismatch",
            Severity.HIGH,
            (decision.stored, *named),
            f"{decision.stored.label()} was not executed as decided: {what}",
            decided_by=closing,
        )


def _algorithm(decision: Decision) -> str:
    body = decision.body
    return f"{body.get('algorithm')} {body.get('algorithm_version')}"


def _input(records: Sequence[StoredRecord], decision: Decision) -> Iterator[Candidate]:
    status = decision.inputs.get("glucose_status")
    fed = finite(status.get("glucose")) if isinstance(status, Mapping) else None
    if fed is None:
        return  # malformed inputs: the re-computation reports them (cannot_recompute)
    stored = decision.stored
    reading = latest_reading_before(records, decision)
    if reading is None:
        yield Candidate(
            "decision_input_mismatch",
            Severity.HIGH,
            (stored,),
            f"{stored.label()} used glucose {fed:g} mg/dL but no sensor_reading precedes it",
            decided_by=stored,
        )
        return
    logged = finite(reading.record.body.get("glucose_mg_dl"))
    if logged is None:
        yield Candidate(
            CHECK_ERROR,
            Severity.HIGH,
            (reading, stored),
            f"cannot compare {stored.label()} with {reading.label()}: "
            "body key 'glucose_mg_dl' is missing or not a number",
            decided_by=stored,
        )
    elif abs(logged - fed) > INPUT_GLUCOSE_TOLERANCE_MG_DL:
        yield Candidate(
            "decision_input_mismatch",
            Severity.HIGH,
            (reading, stored),
            f"{stored.label()} used glucose {fed:g} mg/dL but the latest reading before it "
            f"({reading.label()}) is {logged:g} mg/dL (tolerance "
            f"{INPUT_GLUCOSE_TOLERANCE_MG_DL:g} mg/dL)",
            decided_by=stored,
        )


def _misnamed(records: Sequence[StoredRecord], index: int) -> Iterator[Candidate]:
    _decision, other = named_decision(records, index)
    if other is None:
        return
    command = records[index]
    yield Candidate(
        "command_decision_mismatch",
        Severity.HIGH,
        (other, command),
        f"{command.label()} names decision_seq {other.record.seq}, which is a "
        f"{other.kind.value}, not a controller_decision",
        decided_by=command,
    )
