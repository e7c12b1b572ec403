"""Check ``safety_envelope``: every decision and every command it drives within the envelope.

Applies the independent safety envelope (:mod:`medwarden.telemetry.safety_envelope`) to

* each ``controller_decision``'s logged output, against limits derived from its own
  logged inputs -- names the decision, decided by it;
* each ``actuator_command`` naming a decision (``decision_seq``) in the window, against
  that decision's inputs -- names the decision and the command, decided by the command.

One ``safety_envelope_violation`` per judged record, whose detail names every violated
rule (``rate_above_max_basal``, ``insulin_when_low``, ...): severity ``high``, or
``medium`` when the only finding is ``limits_unavailable`` (the inputs lack what a limit
needs -- the envelope fails closed instead of passing).  A decision whose output is not
an object is a ``check_error``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from medwarden.telemetry.checks.base import Candidate, CheckInput, Lookback, Severity, StoredRecord
from medwarden.telemetry.checks.body import check_error
from medwarden.telemetry.checks.closed_loop import Decision, decisions, named_decision
from medwarden.telemetry.checks.limits import DeviceLimits
from medwarden.telemetry.records import RecordType
from medwarden.telemetry.safety_envelope import (
    EnvelopeConfig,
    EnvelopeResult,
    Rule,
    check_command,
    check_decision,
)

__all__ = ["VIOLATION", "SafetyEnvelopeCheck"]

VIOLATION = "safety_envelope_violation"
"""The warning code of this check."""


@dataclass(frozen=True, slots=True)
class SafetyEnvelopeCheck:
    """Decisions and the commands executing them against the independent safety envelope."""

    config: EnvelopeConfig = field(default_factory=EnvelopeConfig)
    check_id: str = "safety_envelope"

    def lookback(self, limits: DeviceLimits) -> Lookback:
        """The command window and the latest earlier decision (whose inputs a command needs)."""
        return Lookback(
            duration=timedelta(minutes=limits.command_match_window_min),
            last_of=frozenset({RecordType.CONTROLLER_DECISION}),
        )

    def evaluate(self, data: CheckInput) -> Iterator[Candidate]:
        """Yield a violation per decision or command outside the envelope."""
        for decision in decisions(data.records):
            yield from self._decision(decision)
        for index, stored in enumerate(data.records):
            if stored.kind is RecordType.ACTUATOR_COMMAND:
                found, _other = named_decision(data.records, index)
                if found is not None:
                    yield from self._command(found, stored)

    def _decision(self, decision: Decision) -> Iterator[Candidate]:
        output = decision.output
        if not isinstance(output, Mapping):
            yield check_error(decision.stored, "body key 'output' must be an object")
            return
        result = check_decision(decision.inputs, output, self.config)
        if not result.ok:
            yield _violation(result, (decision.stored,), decision.stored, "decided")

    def _command(self, decision: Decision, command: StoredRecord) -> Iterator[Candidate]:
        result = check_command(decision.inputs, command.record.body, self.config)
        if not result.ok:
            yield _violation(result, (decision.stored, command), command, "commanded")


def _violation(
    result: EnvelopeResult, evidence: tuple[StoredRecord, ...], judged: StoredRecord, verb: str
) -> Candidate:
    rules = sorted({v.rule.value for v in result.violations})
    messages = "; ".join(f"{v.rule.value}: {v.message}" for v in result.violations)
    only_unavailable = result.rules == {Rule.LIMITS_UNAVAILABLE}
    return Candidate(
        VIOLATION,
        Severity.MEDIUM if only_unavailable else Severity.HIGH,
        evidence,
        f"{judged.label()} {verb} insulin outside the safety envelope "
        f"(rules {', '.join(rules)}): {messages}",
        decided_by=judged,
    )
