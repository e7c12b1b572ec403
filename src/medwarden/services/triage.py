"""Triage use cases: decide a finding, read its history, manage carry-over policies.

Thin functions over a :class:`TriageRepository` (the store's
:class:`~medwarden.store.triage_repository.SqlTriage`) that take the time from an
injected :class:`~medwarden.core.clock.Clock`; the CLI and (later) the API call them.
:func:`decision_from_text` builds a :class:`~medwarden.vex.triage.TriageDecision` from
the text a person typed, naming the accepted values when one is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from medwarden.core.clock import Clock
from medwarden.errors import UsageError
from medwarden.vex.carryover import (
    POLICY_ENGINE,
    CarryOverCounts,
    CarryOverPolicy,
    PolicyApplication,
    PolicyMode,
    PolicyOutcome,
)
from medwarden.vex.model import VexJustification, VexStatus
from medwarden.vex.triage import DecisionRecord, Response, TriageDecision

__all__ = [
    "TriageRepository",
    "add_policy",
    "carry_decision",
    "decide",
    "decision_from_text",
    "disable_policy",
    "history",
    "list_policies",
    "policy_mode",
    "reconcile",
]


class TriageRepository(Protocol):
    """Where decisions and policies are stored (see ``SqlTriage`` for the semantics)."""

    def decide(
        self,
        finding_pk: int,
        chosen: TriageDecision,
        *,
        actor: str,
        now: datetime,
        reason: str | None = None,
    ) -> DecisionRecord:
        """Record a person's decision on a finding, audited, or raise if a rule refuses it."""
        ...

    def history(self, finding_pk: int) -> list[DecisionRecord]:
        """Every decision recorded on the finding, oldest first."""
        ...

    def create_policy(
        self, new: CarryOverPolicy, *, actor: str, now: datetime, reason: str | None = None
    ) -> PolicyOutcome:
        """Store a policy and carry it out at once."""
        ...

    def carry_decision(
        self,
        decision_pk: int,
        *,
        actor: str,
        now: datetime,
        scope: str = "version",
        version_range: str | None = None,
        priority: int = 0,
        valid_until: datetime | None = None,
        mode: PolicyMode | str = PolicyMode.APPLY,
        all_products: bool = False,
        name: str | None = None,
        reason: str | None = None,
    ) -> PolicyOutcome:
        """Make a policy of a person's decision and carry it out at once."""
        ...

    def disable_policy(
        self, policy_pk: int, *, actor: str, now: datetime, reason: str | None = None
    ) -> PolicyOutcome:
        """Disable a policy and revert what it decided."""
        ...

    def list_policies(self, *, include_disabled: bool = True) -> list[CarryOverPolicy]:
        """The stored policies, oldest first."""
        ...

    def applications(
        self, *, policy_pk: int | None = None, finding_pk: int | None = None
    ) -> list[PolicyApplication]:
        """The applications of a policy and/or on a finding."""
        ...

    def reconcile_policies(self, now: datetime, actor: str = POLICY_ENGINE) -> CarryOverCounts:
        """Re-plan every finding of every vulnerability that has a policy."""
        ...


E = TypeVar("E", VexStatus, VexJustification, Response, PolicyMode)


def _choice(kind: type[E], value: str, what: str) -> E:
    try:
        return kind(value.strip().lower().replace("-", "_"))
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise UsageError(f"unknown {what} {value!r}", hint=f"use one of: {allowed}") from None


def decision_from_text(
    status: str,
    *,
    justification: str | None = None,
    responses: Sequence[str] = (),
    detail: str | None = None,
    impact_statement: str | None = None,
    applicability: str | None = None,
    verifiability: str | None = None,
    related_threats: str | None = None,
    assessment: str | None = None,
    approver: str | None = None,
    expires_at: datetime | None = None,
) -> TriageDecision:
    """Build a decision from typed text (``not-affected`` and ``not_affected`` both work)."""
    return TriageDecision(
        status=_choice(VexStatus, status, "status"),
        justification=None
        if justification is None
        else _choice(VexJustification, justification, "justification"),
        responses=tuple(_choice(Response, r, "response") for r in responses),
        detail=detail,
        impact_statement=impact_statement,
        applicability=applicability,
        verifiability=verifiability,
        related_threats=related_threats,
        assessment=assessment,
        approver=approver,
        expires_at=expires_at,
    )


def policy_mode(text: str) -> PolicyMode:
    """Read a policy mode (``apply`` or ``log_only``/``log-only``)."""
    return _choice(PolicyMode, text, "policy mode")


def decide(
    repo: TriageRepository,
    finding_pk: int,
    chosen: TriageDecision,
    *,
    actor: str,
    clock: Clock,
    reason: str | None = None,
) -> DecisionRecord:
    """Record ``actor``'s decision on a finding now (rules: ``validate_decision``)."""
    return repo.decide(finding_pk, chosen, actor=actor, now=clock.now(), reason=reason)


def history(repo: TriageRepository, finding_pk: int) -> list[DecisionRecord]:
    """Every decision on the finding, oldest first (earlier versions stay retrievable)."""
    return repo.history(finding_pk)


def add_policy(
    repo: TriageRepository,
    new: CarryOverPolicy,
    *,
    actor: str,
    clock: Clock,
    reason: str | None = None,
) -> PolicyOutcome:
    """Store a carry-over policy and apply it to the findings it selects now."""
    return repo.create_policy(new, actor=actor, now=clock.now(), reason=reason)


def carry_decision(
    repo: TriageRepository,
    decision_pk: int,
    *,
    actor: str,
    clock: Clock,
    scope: str = "version",
    version_range: str | None = None,
    priority: int = 0,
    valid_until: datetime | None = None,
    mode: PolicyMode | str = PolicyMode.APPLY,
    all_products: bool = False,
    name: str | None = None,
    reason: str | None = None,
) -> PolicyOutcome:
    """Carry a person's decision to every finding of the same vulnerability and package."""
    return repo.carry_decision(
        decision_pk,
        actor=actor,
        now=clock.now(),
        scope=scope,
        version_range=version_range,
        priority=priority,
        valid_until=valid_until,
        mode=mode,
        all_products=all_products,
        name=name,
        reason=reason,
    )


def disable_policy(
    repo: TriageRepository,
    policy_pk: int,
    *,
    actor: str,
    clock: Clock,
    reason: str | None = None,
) -> PolicyOutcome:
    """Disable a policy now; the decisions it made are reverted."""
    return repo.disable_policy(policy_pk, actor=actor, now=clock.now(), reason=reason)


def list_policies(
    repo: TriageRepository, *, include_disabled: bool = True
) -> list[CarryOverPolicy]:
    """The stored policies, oldest first."""
    return repo.list_policies(include_disabled=include_disabled)


def reconcile(
    repo: TriageRepository, *, clock: Clock, actor: str = POLICY_ENGINE
) -> CarryOverCounts:
    """Bring every policy-decided finding in line with the policies in force now."""
    return repo.reconcile_policies(clock.now(), actor)
