"""Triage decisions on portfolio findings, and the rules a decision must satisfy.

A :class:`TriageDecision` is what a person (or a carry-over policy, see
:mod:`medwarden.vex.carryover`) says about one finding: its VEX status, and the
fields that make the statement usable by others.  :func:`validate_decision` is the one
place the rules live:

* **Triage record** (REQUIREMENTS 13, IEC 81001-5-1 §9.3): a finding leaves
  ``under_investigation`` only with *applicability*, *verifiability* and *related
  threats* all filled in.
* **CISA VEX minimum requirements**: ``not_affected`` needs a justification or an
  impact statement; ``affected`` needs an action statement: at least one response
  (CycloneDX ``analysis.response``) or a ``detail`` text.  A justification is only
  meaningful for ``not_affected`` (OpenVEX and CSAF carry it only there).
* **KEV four-eyes rule** (REQUIREMENTS 10, FDA premarket guidance §V.A.4(b)): a finding
  whose CVE is in the CISA KEV catalog cannot be closed (``not_affected`` or ``fixed``)
  without a recorded *assessment* and an *approver* who is not the person deciding.
* ``expires_at``, when given, must lie in the future: an expired decision is never
  recorded.

Every refusal is a :class:`~medwarden.errors.RuleViolationError` naming the missing or
wrong field, raised before anything is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from medwarden.core.clock import ensure_utc
from medwarden.errors import RuleViolationError, UsageError
from medwarden.vex.model import VexJustification, VexStatus

__all__ = [
    "CLOSING_STATUSES",
    "DecisionOrigin",
    "DecisionRecord",
    "Response",
    "TriageDecision",
    "validate_decision",
]

CLOSING_STATUSES = frozenset({VexStatus.NOT_AFFECTED, VexStatus.FIXED})
"""Statuses that close a finding (the KEV four-eyes rule applies to them)."""

_TEXT_FIELDS = (
    "detail",
    "impact_statement",
    "applicability",
    "verifiability",
    "related_threats",
    "assessment",
    "approver",
)
_TRIAGE_FIELDS = ("applicability", "verifiability", "related_threats")


class Response(StrEnum):
    """What the manufacturer does about an affected finding (CycloneDX ``analysis.response``).

    See https://cyclonedx.org/docs/1.6/json/#vulnerabilities_items_analysis_response.
    """

    CAN_NOT_FIX = "can_not_fix"
    WILL_NOT_FIX = "will_not_fix"
    UPDATE = "update"
    ROLLBACK = "rollback"
    WORKAROUND_AVAILABLE = "workaround_available"


class DecisionOrigin(StrEnum):
    """Who made a finding's current decision: a person, a carry-over policy, or nobody yet."""

    HUMAN = "human"
    POLICY = "policy"
    NONE = "none"


def _clean(value: object, name: str) -> str | None:
    """Strip ``value``; blank text becomes ``None``; anything but text or None is refused."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise UsageError(f"triage field {name} must be text, not {type(value).__name__}")
    stripped = value.strip()
    return stripped or None


@dataclass(frozen=True, slots=True)
class TriageDecision:
    """One triage decision on a finding: VEX status plus the fields that justify it.

    Text fields are stripped when built; blank text counts as absent.  ``responses``
    keep their given order without duplicates.  ``expires_at`` is normalised to UTC.
    Building a decision checks types only; the rules are in :func:`validate_decision`.
    """

    status: VexStatus
    justification: VexJustification | None = None
    responses: tuple[Response, ...] = ()
    detail: str | None = None
    impact_statement: str | None = None
    applicability: str | None = None
    verifiability: str | None = None
    related_threats: str | None = None
    assessment: str | None = None
    approver: str | None = None
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        """Coerce enum values given as text, strip texts, de-duplicate responses."""
        try:
            object.__setattr__(self, "status", VexStatus(self.status))
            if self.justification is not None:
                object.__setattr__(self, "justification", VexJustification(self.justification))
            responses = tuple(dict.fromkeys(Response(r) for r in self.responses))
        except ValueError as exc:
            raise UsageError(f"not a valid triage decision: {exc}") from None
        object.__setattr__(self, "responses", responses)
        for name in _TEXT_FIELDS:
            object.__setattr__(self, name, _clean(getattr(self, name), name))
        if self.expires_at is not None:
            object.__setattr__(self, "expires_at", ensure_utc(self.expires_at))

    def as_dict(self) -> dict[str, Any]:
        """The decision as a JSON object (for storage and audit events); None fields kept."""
        return {
            "status": self.status.value,
            "justification": None if self.justification is None else self.justification.value,
            "responses": [r.value for r in self.responses],
            "detail": self.detail,
            "impact_statement": self.impact_statement,
            "applicability": self.applicability,
            "verifiability": self.verifiability,
            "related_threats": self.related_threats,
            "assessment": self.assessment,
            "approver": self.approver,
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TriageDecision:
        """Rebuild a decision from :meth:`as_dict` output; unknown keys are refused."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise UsageError(f"unknown triage decision fields: {', '.join(sorted(unknown))}")
        if "status" not in data:
            raise UsageError("a triage decision needs a status")
        expires = data.get("expires_at")
        if isinstance(expires, str):
            try:
                expires = datetime.fromisoformat(expires)
            except ValueError:
                raise UsageError(f"expires_at is not an ISO 8601 time: {expires!r}") from None
        return cls(
            status=data["status"],
            justification=data.get("justification"),
            responses=tuple(data.get("responses") or ()),
            detail=data.get("detail"),
            impact_statement=data.get("impact_statement"),
            applicability=data.get("applicability"),
            verifiability=data.get("verifiability"),
            related_threats=data.get("related_threats"),
            assessment=data.get("assessment"),
            approver=data.get("approver"),
            expires_at=expires,
        )

    @property
    def closes(self) -> bool:
        """Whether the decision closes the finding (``not_affected`` or ``fixed``)."""
        return self.status in CLOSING_STATUSES


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A stored decision: the decision, who made it when, and what produced it.

    ``policy_pk`` names the carry-over policy that made it (None for a person's
    decision); ``reverts_pk`` names the policy decision it reverted (a decision the
    policy engine wrote to restore the state before a policy's)."""

    pk: int
    finding_pk: int
    decision: TriageDecision
    actor: str
    at: datetime
    policy_pk: int | None = None
    reverts_pk: int | None = None

    @property
    def by_policy(self) -> bool:
        """Whether a carry-over policy made this decision."""
        return self.policy_pk is not None


def _same_person(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def validate_decision(
    decision: TriageDecision, *, kev_listed: bool, actor: str, now: datetime
) -> TriageDecision:
    """Return ``decision`` if it may be recorded by ``actor`` at ``now``; raise otherwise.

    Rules (each refusal is a :class:`~medwarden.errors.RuleViolationError` naming the field):

    1. Leaving ``under_investigation`` requires ``applicability``, ``verifiability`` and
       ``related_threats`` (REQUIREMENTS 13).
    2. ``not_affected`` requires a ``justification`` or an ``impact_statement``; a
       justification on any other status is refused (CISA VEX minimum requirements).
    3. ``affected`` requires at least one response or a ``detail`` (action statement).
    4. **Four-eyes rule for KEV**: when ``kev_listed``, closing the finding
       (``not_affected`` or ``fixed``) requires an ``assessment`` and an ``approver``
       who is not ``actor`` (compared case-insensitively) (REQUIREMENTS 10).
    5. ``expires_at`` must be later than ``now``.
    """
    if not actor or not actor.strip():
        raise UsageError("a triage decision needs an actor (who decides)")
    status = decision.status
    if status is not VexStatus.UNDER_INVESTIGATION:
        missing = [name for name in _TRIAGE_FIELDS if getattr(decision, name) is None]
        if missing:
            raise RuleViolationError(
                f"a finding cannot leave under_investigation without {', '.join(missing)}",
                hint="record applicability, verifiability and related_threats (the triage "
                "record, IEC 81001-5-1 §9.3)",
            )
    if decision.justification is not None and status is not VexStatus.NOT_AFFECTED:
        raise RuleViolationError(
            f"justification {decision.justification.value!r} is only allowed with not_affected",
            hint=f"drop the justification or use a detail for status {status.value}",
        )
    if (
        status is VexStatus.NOT_AFFECTED
        and decision.justification is None
        and decision.impact_statement is None
    ):
        raise RuleViolationError(
            "not_affected requires a justification or an impact_statement",
            hint="CISA VEX minimum requirements: say why the product is not affected",
        )
    if status is VexStatus.AFFECTED and not decision.responses and decision.detail is None:
        raise RuleViolationError(
            "affected requires at least one response or a detail (action statement)",
            hint="say what is done about it: " + ", ".join(r.value for r in Response),
        )
    if kev_listed and decision.closes:
        _check_four_eyes(decision, actor)
    if decision.expires_at is not None and decision.expires_at <= ensure_utc(now):
        raise RuleViolationError(
            f"expires_at {decision.expires_at.isoformat()} is not in the future",
            hint="give an expiry later than now, or none",
        )
    return decision


def _check_four_eyes(decision: TriageDecision, actor: str) -> None:
    """A KEV-listed finding closes only with an assessment and an approver other than ``actor``."""
    status = decision.status.value
    if decision.assessment is None:
        raise RuleViolationError(
            f"a KEV-listed finding cannot be closed ({status}) without an assessment",
            hint="record the assessment of the known-exploited vulnerability (REQUIREMENTS 10)",
        )
    if decision.approver is None:
        raise RuleViolationError(
            f"a KEV-listed finding cannot be closed ({status}) without an approver",
            hint="name a second person who approves the assessment (four-eyes rule)",
        )
    if _same_person(decision.approver, actor):
        raise RuleViolationError(
            f"the approver of a KEV-listed finding's closure must not be the actor ({actor})",
            hint="four-eyes rule: another person must approve",
        )
