"""``/api/v1/findings/{id}/decisions`` and ``/api/v1/policies``: triage and carry-over.

Deciding needs the ``triage`` permission and the finding's product in scope (a finding
outside the scope is a 404, as in the findings router).  Policies may span products,
so creating, carrying across products and disabling them needs an unscoped caller.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from medwarden.api.deps import ClockDep, StoreDep, require
from medwarden.api.schemas.triage import (
    CarryIn,
    DecisionIn,
    DecisionOut,
    PolicyIn,
    PolicyOut,
    PolicyOutcomeOut,
)
from medwarden.auth.model import Permission, Principal
from medwarden.errors import PermissionDeniedError
from medwarden.services import triage

__all__ = ["router"]

router = APIRouter(tags=["triage"])

_ID = Annotated[int, Path(ge=1, le=2**62)]
Reader = Annotated[Principal, Depends(require(Permission.READ))]
Triager = Annotated[Principal, Depends(require(Permission.TRIAGE))]


def _unscoped(principal: Principal, what: str) -> None:
    if principal.products is not None:
        raise PermissionDeniedError(f"a product-scoped caller cannot {what}")


@router.get(
    "/findings/{finding_id}/decisions",
    response_model=list[DecisionOut],
    summary="A finding's decision history",
)
def decision_history(finding_id: _ID, store: StoreDep, principal: Reader) -> list[DecisionOut]:
    """Every decision on the finding, oldest first; none is ever changed in place."""
    store.portfolio.finding(finding_id, principal.products)  # 404 outside the scope
    return [DecisionOut.of(r) for r in triage.history(store.triage, finding_id)]


@router.post(
    "/findings/{finding_id}/decisions",
    response_model=DecisionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Decide a finding",
)
def decide(
    finding_id: _ID, body: DecisionIn, store: StoreDep, principal: Triager, clock: ClockDep
) -> DecisionOut:
    """Record a triage decision (rules: docs/triage.md; a KEV finding needs an assessment
    and an approver other than the caller to be closed)."""
    store.portfolio.finding(finding_id, principal.products)
    record = triage.decide(
        store.triage,
        finding_id,
        body.decision(),
        actor=principal.actor,
        clock=clock,
        reason=body.reason,
    )
    return DecisionOut.of(record)


@router.get("/policies", response_model=list[PolicyOut], summary="List carry-over policies")
def list_policies(
    store: StoreDep,
    principal: Reader,
    include_disabled: Annotated[bool, Query()] = True,
) -> list[PolicyOut]:
    """Policies the caller may see: all for unscoped callers, else those of its products."""
    policies = store.triage.list_policies(include_disabled=include_disabled)
    return [
        PolicyOut.of(p)
        for p in policies
        if principal.products is None or (p.product is not None and p.product in principal.products)
    ]


@router.post(
    "/policies",
    response_model=PolicyOutcomeOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a carry-over policy (applied at once)",
)
def add_policy(
    body: PolicyIn, store: StoreDep, principal: Triager, clock: ClockDep
) -> PolicyOutcomeOut:
    """Store the policy and decide every open finding it selects now."""
    if body.product is None:
        _unscoped(principal, "create a policy for every product")
    else:
        principal.check_product(body.product)
    outcome = triage.add_policy(
        store.triage, body.policy(), actor=principal.actor, clock=clock, reason=body.reason
    )
    return PolicyOutcomeOut.of(outcome)


@router.post(
    "/decisions/{decision_id}/carry",
    response_model=PolicyOutcomeOut,
    status_code=status.HTTP_201_CREATED,
    summary="Carry a decision to later releases (as a policy)",
)
def carry(
    decision_id: _ID, body: CarryIn, store: StoreDep, principal: Triager, clock: ClockDep
) -> PolicyOutcomeOut:
    """Make a policy of a person's decision, scoped to the same component version (or a
    range), and apply it at once."""
    if body.all_products:
        _unscoped(principal, "carry a decision to every product")
    else:
        principal.check_product(store.portfolio.decision_product(decision_id))
    outcome = triage.carry_decision(
        store.triage,
        decision_id,
        actor=principal.actor,
        clock=clock,
        scope=body.scope,
        version_range=body.version_range,
        priority=body.priority,
        valid_until=body.valid_until,
        mode=body.mode,
        all_products=body.all_products,
        name=body.name,
        reason=body.reason,
    )
    return PolicyOutcomeOut.of(outcome)


@router.post(
    "/policies/{policy_id}/disable",
    response_model=PolicyOutcomeOut,
    summary="Disable a policy (reverting what it decided)",
)
def disable(
    policy_id: _ID,
    store: StoreDep,
    principal: Triager,
    clock: ClockDep,
    reason: Annotated[str | None, Query(max_length=2000)] = None,
) -> PolicyOutcomeOut:
    """Disable the policy; its decisions are reverted and the reversals audited."""
    _unscoped(principal, "disable policies")
    return PolicyOutcomeOut.of(
        triage.disable_policy(
            store.triage, policy_id, actor=principal.actor, clock=clock, reason=reason
        )
    )
