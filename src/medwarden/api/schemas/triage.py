"""Triage decisions and carry-over policies as the API shows them."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from medwarden.vex.carryover import CarryOverCounts, CarryOverPolicy, PolicyMode, PolicyOutcome
from medwarden.vex.model import VexJustification, VexStatus
from medwarden.vex.triage import DecisionRecord, Response, TriageDecision

__all__ = [
    "CarryIn",
    "CountsOut",
    "DecisionIn",
    "DecisionOut",
    "PolicyIn",
    "PolicyOut",
    "PolicyOutcomeOut",
]

_Long = Field(default=None, max_length=10_000)


class DecisionIn(BaseModel):
    """A triage decision (VEX status plus what justifies it) and why it was made."""

    model_config = ConfigDict(extra="forbid")

    status: VexStatus
    justification: VexJustification | None = None
    responses: list[Response] = Field(default_factory=list, max_length=5)
    detail: str | None = _Long
    impact_statement: str | None = _Long
    applicability: str | None = _Long
    verifiability: str | None = _Long
    related_threats: str | None = _Long
    assessment: str | None = _Long
    approver: str | None = Field(default=None, max_length=200)
    expires_at: datetime | None = None
    reason: str | None = Field(default=None, max_length=2000)

    def decision(self) -> TriageDecision:
        """The domain decision."""
        data = self.model_dump(exclude={"reason"})
        data["responses"] = tuple(data["responses"])
        return TriageDecision(**data)


def _decision_fields(decision: TriageDecision) -> dict[str, Any]:
    return decision.as_dict()


class DecisionOut(BaseModel):
    """A stored decision: who, when, and whether a policy made or reverted it."""

    id: int
    finding_id: int
    actor: str
    at: datetime
    policy_id: int | None
    reverts_id: int | None
    decision: dict[str, Any]

    @classmethod
    def of(cls, r: DecisionRecord) -> DecisionOut:
        """The DTO of a decision record."""
        return cls(
            id=r.pk,
            finding_id=r.finding_pk,
            actor=r.actor,
            at=r.at,
            policy_id=r.policy_pk,
            reverts_id=r.reverts_pk,
            decision=_decision_fields(r.decision),
        )


class PolicyIn(BaseModel):
    """A carry-over policy: a decision for a vulnerability on a package version or range."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"\S")
    vulnerability_id: str = Field(min_length=1, max_length=200, pattern=r"\S")
    family: str | None = Field(default=None, max_length=50, description="Ecosystem, e.g. npm.")
    package_name: str = Field(min_length=1, max_length=500, pattern=r"\S")
    component_version: str | None = Field(default=None, max_length=200)
    version_range: str | None = Field(default=None, max_length=1000, examples=["vers:npm/<4.17.21"])
    product: str | None = Field(default=None, max_length=64)
    priority: int = Field(default=0, ge=-1000, le=1000)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    mode: PolicyMode = PolicyMode.APPLY
    decision: DecisionIn
    reason: str | None = Field(default=None, max_length=2000)

    def policy(self) -> CarryOverPolicy:
        """The domain policy."""
        return CarryOverPolicy(
            name=self.name,
            vulnerability_id=self.vulnerability_id,
            family=self.family,
            package_name=self.package_name,
            decision=self.decision.decision(),
            component_version=self.component_version,
            version_range=self.version_range,
            product=self.product,
            priority=self.priority,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            mode=self.mode,
        )


class CarryIn(BaseModel):
    """Carry a person's decision to later releases holding the same version (or a range)."""

    model_config = ConfigDict(extra="forbid")

    scope: str = Field(default="version", pattern="^(version|range)$")
    version_range: str | None = Field(default=None, max_length=1000)
    priority: int = Field(default=0, ge=-1000, le=1000)
    valid_until: datetime | None = None
    mode: PolicyMode = PolicyMode.APPLY
    all_products: bool = False
    name: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)


class PolicyOut(BaseModel):
    """A stored policy."""

    id: int | None
    name: str
    vulnerability_id: str
    family: str | None
    package_name: str
    component_version: str | None
    version_range: str | None
    product: str | None
    priority: int
    valid_from: datetime | None
    valid_until: datetime | None
    mode: PolicyMode
    enabled: bool
    created_at: datetime | None
    created_by: str | None
    decision: dict[str, Any]

    @classmethod
    def of(cls, p: CarryOverPolicy) -> PolicyOut:
        """The DTO of a policy."""
        return cls(
            id=p.pk,
            name=p.name,
            vulnerability_id=p.vulnerability_id,
            family=p.family,
            package_name=p.package_name,
            component_version=p.component_version,
            version_range=p.version_range,
            product=p.product,
            priority=p.priority,
            valid_from=p.valid_from,
            valid_until=p.valid_until,
            mode=p.mode,
            enabled=p.enabled,
            created_at=p.created_at,
            created_by=p.created_by,
            decision=_decision_fields(p.decision),
        )


class CountsOut(BaseModel):
    """What carrying policies out did."""

    applied: int
    logged: int
    reverted: int
    unlogged: int
    kept_human: int
    refused: int

    @classmethod
    def of(cls, c: CarryOverCounts) -> CountsOut:
        """The DTO of the counts."""
        return cls(**asdict(c))


class PolicyOutcomeOut(BaseModel):
    """A policy and what creating, carrying or disabling it did at once."""

    policy: PolicyOut
    counts: CountsOut

    @classmethod
    def of(cls, o: PolicyOutcome) -> PolicyOutcomeOut:
        """The DTO of an outcome."""
        return cls(policy=PolicyOut.of(o.policy), counts=CountsOut.of(o.counts))
