"""Triage decisions and the rules they must satisfy (REQUIREMENTS 10, 13; CISA VEX minimum)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.errors import RuleViolationError, UsageError
from medwarden.vex.model import VexJustification, VexStatus
from medwarden.vex.triage import (
    DecisionRecord,
    Response,
    TriageDecision,
    validate_decision,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TRIAGED = {
    "applicability": "the parser is linked into the firmware",
    "verifiability": "reproduced on a bench unit",
    "related_threats": "T-12 network tampering",
}

texts = st.one_of(st.none(), st.text(min_size=1, max_size=30))
decisions = st.builds(
    TriageDecision,
    status=st.sampled_from(VexStatus),
    justification=st.one_of(st.none(), st.sampled_from(VexJustification)),
    responses=st.lists(st.sampled_from(Response), max_size=5).map(tuple),
    detail=texts,
    impact_statement=texts,
    applicability=texts,
    verifiability=texts,
    related_threats=texts,
    assessment=texts,
    approver=texts,
    expires_at=st.one_of(
        st.none(),
        st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1)),  # noqa: DTZ001
    ),
)


def ok(**fields: object) -> TriageDecision:
    """A decision with the triage record filled in."""
    return TriageDecision(**{**TRIAGED, **fields})  # type: ignore[arg-type]


def check(decision: TriageDecision, *, kev: bool = False, actor: str = "alice") -> None:
    """Validate at NOW."""
    validate_decision(decision, kev_listed=kev, actor=actor, now=NOW)


@pytest.mark.parametrize(
    "decision",
    [
        TriageDecision(VexStatus.UNDER_INVESTIGATION),
        ok(status=VexStatus.AFFECTED, responses=(Response.UPDATE,)),
        ok(status=VexStatus.AFFECTED, detail="update to 2.1 (field notice FN-7)"),
        ok(status=VexStatus.NOT_AFFECTED, justification=VexJustification.COMPONENT_NOT_PRESENT),
        ok(status=VexStatus.NOT_AFFECTED, impact_statement="the parser is never reached"),
        ok(status=VexStatus.FIXED),
        ok(status=VexStatus.FIXED, expires_at=NOW + timedelta(days=1)),
    ],
)
def test_valid_decisions_pass(decision: TriageDecision) -> None:
    """Complete decisions are accepted and returned."""
    assert validate_decision(decision, kev_listed=False, actor="alice", now=NOW) is decision


@pytest.mark.parametrize("status", [VexStatus.AFFECTED, VexStatus.NOT_AFFECTED, VexStatus.FIXED])
@pytest.mark.parametrize("missing", ["applicability", "verifiability", "related_threats"])
def test_leaving_under_investigation_needs_all_three_triage_fields(
    status: VexStatus, missing: str
) -> None:
    """REQUIREMENTS 13: each of the three fields is required, and named when missing."""
    fields: dict[str, object] = {
        **TRIAGED,
        "status": status,
        "justification": VexJustification.COMPONENT_NOT_PRESENT
        if status is VexStatus.NOT_AFFECTED
        else None,
        "responses": (Response.UPDATE,) if status is VexStatus.AFFECTED else (),
        missing: "   ",  # blank counts as absent
    }
    with pytest.raises(RuleViolationError, match=missing):
        check(TriageDecision(**fields))  # type: ignore[arg-type]


def test_not_affected_needs_justification_or_impact_statement() -> None:
    """CISA VEX minimum requirements."""
    with pytest.raises(RuleViolationError, match="justification or an impact_statement"):
        check(ok(status=VexStatus.NOT_AFFECTED))


def test_affected_needs_a_response_or_detail() -> None:
    """An affected decision says what is done about it."""
    with pytest.raises(RuleViolationError, match="response or a detail"):
        check(ok(status=VexStatus.AFFECTED))


@pytest.mark.parametrize("status", [VexStatus.AFFECTED, VexStatus.FIXED])
def test_justification_only_with_not_affected(status: VexStatus) -> None:
    """A justification explains not_affected only."""
    decision = ok(
        status=status,
        justification=VexJustification.COMPONENT_NOT_PRESENT,
        detail="x",
    )
    with pytest.raises(RuleViolationError, match="only allowed with not_affected"):
        check(decision)


@pytest.mark.parametrize("status", [VexStatus.NOT_AFFECTED, VexStatus.FIXED])
def test_kev_closure_needs_assessment_and_another_approver(status: VexStatus) -> None:
    """REQUIREMENTS 10, four eyes: assessment, approver, approver is not the actor."""
    base = ok(status=status, impact_statement="not reachable")
    with pytest.raises(RuleViolationError, match="assessment"):
        check(base, kev=True)
    with pytest.raises(RuleViolationError, match="approver"):
        check(TriageDecision(**{**_fields(base), "assessment": "reviewed"}), kev=True)
    same = TriageDecision(**{**_fields(base), "assessment": "reviewed", "approver": " ALICE "})
    with pytest.raises(RuleViolationError, match="must not be the actor"):
        check(same, kev=True)
    approved = TriageDecision(**{**_fields(base), "assessment": "reviewed", "approver": "bob"})
    check(approved, kev=True)
    check(base, kev=False)  # not KEV-listed: no four-eyes rule


def _fields(decision: TriageDecision) -> dict[str, object]:
    return {name: getattr(decision, name) for name in TriageDecision.__dataclass_fields__}


def test_kev_rule_does_not_block_affected_or_investigation() -> None:
    """Only closing a KEV finding needs the approval."""
    check(ok(status=VexStatus.AFFECTED, detail="patch planned"), kev=True)
    check(TriageDecision(VexStatus.UNDER_INVESTIGATION), kev=True)


def test_expiry_must_be_in_the_future() -> None:
    """An expiry at or before now is refused; offsets are normalised to UTC."""
    with pytest.raises(RuleViolationError, match="expires_at"):
        check(ok(status=VexStatus.FIXED, expires_at=NOW))
    later = (NOW + timedelta(hours=1)).astimezone(timezone(timedelta(hours=2)))
    decision = ok(status=VexStatus.FIXED, expires_at=later)
    assert decision.expires_at is not None
    assert decision.expires_at.tzinfo is UTC
    check(decision)


def test_an_actor_is_required() -> None:
    """Who decides must be known."""
    with pytest.raises(UsageError, match="actor"):
        check(TriageDecision(VexStatus.UNDER_INVESTIGATION), actor=" ")


def test_decision_normalises_and_refuses_bad_values() -> None:
    """Text values are coerced to the enums; blanks dropped; duplicates removed."""
    decision = TriageDecision(
        "not_affected",  # type: ignore[arg-type]
        justification="component_not_present",  # type: ignore[arg-type]
        responses=("update", "update", "rollback"),  # type: ignore[arg-type]
        detail="  ",
        impact_statement="  spaced  ",
    )
    assert decision.status is VexStatus.NOT_AFFECTED
    assert decision.responses == (Response.UPDATE, Response.ROLLBACK)
    assert decision.detail is None
    assert decision.impact_statement == "spaced"
    assert decision.closes
    with pytest.raises(UsageError):
        TriageDecision("closed")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        TriageDecision(VexStatus.FIXED, detail=3)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="unknown"):
        TriageDecision.from_dict({"status": "fixed", "colour": "red"})
    with pytest.raises(UsageError, match="status"):
        TriageDecision.from_dict({})
    with pytest.raises(UsageError, match="ISO 8601"):
        TriageDecision.from_dict({"status": "fixed", "expires_at": "soon"})


@given(decisions)
def test_as_dict_round_trips(decision: TriageDecision) -> None:
    """A decision survives its JSON form unchanged."""
    assert TriageDecision.from_dict(decision.as_dict()) == decision


@given(decisions, st.booleans(), st.sampled_from(["alice", "bob"]))
def test_validation_accepts_exactly_the_rules(
    decision: TriageDecision, kev: bool, actor: str
) -> None:
    """The validator refuses a decision if and only if one of the rules is broken."""
    status = decision.status
    broken = (
        (
            status is not VexStatus.UNDER_INVESTIGATION
            and None in (decision.applicability, decision.verifiability, decision.related_threats)
        )
        or (decision.justification is not None and status is not VexStatus.NOT_AFFECTED)
        or (
            status is VexStatus.NOT_AFFECTED
            and decision.justification is None
            and decision.impact_statement is None
        )
        or (status is VexStatus.AFFECTED and not decision.responses and decision.detail is None)
        or (
            kev
            and decision.closes
            and (
                decision.assessment is None
                or decision.approver is None
                or decision.approver.casefold() == actor
            )
        )
        or (decision.expires_at is not None and decision.expires_at <= NOW)
    )
    try:
        validate_decision(decision, kev_listed=kev, actor=actor, now=NOW)
    except RuleViolationError:
        assert broken
    else:
        assert not broken


def test_decision_record_by_policy() -> None:
    """A stored decision says whether a policy made it."""
    record = DecisionRecord(1, 2, TriageDecision(VexStatus.UNDER_INVESTIGATION), "x", NOW, 5)
    assert record.by_policy
    assert not DecisionRecord(1, 2, record.decision, "x", NOW).by_policy
