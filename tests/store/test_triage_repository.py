"""Triage decisions and carry-over policies in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import insert

from medwarden.audit import verify_chain
from medwarden.core.clock import FixedClock
from medwarden.errors import ConflictError, NotFoundError, RuleViolationError, UsageError
from medwarden.store import SqlStore
from medwarden.store.schema_portfolio import finding, policy
from medwarden.store.triage_repository import apply_policies
from medwarden.vex.carryover import CarryOverCounts, CarryOverPolicy, PolicyMode
from medwarden.vex.model import VexJustification, VexStatus
from medwarden.vex.triage import Response, TriageDecision
from tests.store.conftest import count_statements
from tests.store.portfolio_rows import (
    T0,
    add_aliases,
    add_component,
    add_finding,
    add_findings,
    add_kev,
    add_product,
    add_release,
    add_releases,
    count_rows,
    finding_state,
    finding_values,
    status_of,
)

NOW = T0 + timedelta(days=1)
CVE = "CVE-2021-23337"
TRIAGED = {
    "applicability": "lodash is bundled in the UI layer",
    "verifiability": "reviewed the call sites",
    "related_threats": "none beyond the advisory",
}


def not_affected(**changes: object) -> TriageDecision:
    """A complete not_affected decision."""
    fields: dict[str, object] = {
        "status": VexStatus.NOT_AFFECTED,
        "justification": VexJustification.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH,
        **TRIAGED,
    }
    fields.update(changes)
    return TriageDecision(**fields)  # type: ignore[arg-type]


def affected(**changes: object) -> TriageDecision:
    """A complete affected decision."""
    fields: dict[str, object] = {
        "status": VexStatus.AFFECTED,
        "responses": (Response.UPDATE,),
        **TRIAGED,
    }
    fields.update(changes)
    return TriageDecision(**fields)  # type: ignore[arg-type]


@dataclass
class Pump:
    """An infusion pump with three releases holding lodash 4.17.20, one finding each."""

    product: int
    releases: list[int]
    lodash: int
    findings: list[int]


@pytest.fixture
def pump(store: SqlStore) -> Pump:
    """The pump portfolio (and an unrelated monitor product)."""
    product = add_product(store, "pump")
    releases = [add_release(store, product, v) for v in ("1.0", "1.1", "2.0")]
    lodash = add_component(store, "lodash", "4.17.20")
    findings = [add_finding(store, r, lodash, CVE, cve_id=CVE) for r in releases]
    return Pump(product, releases, lodash, findings)


def events(store: SqlStore, action: str | None = None) -> list[dict[str, object]]:
    """The audit events (as dicts), optionally of one action."""
    out = []
    for event in store.audit.events():
        if action is None or event.action == action:
            out.append(
                {
                    "action": event.action,
                    "actor": event.actor,
                    "subject": f"{event.subject_type}:{event.subject_id}",
                    "before": event.before,
                    "after": event.after,
                    "reason": event.reason,
                }
            )
    return out


# -- decisions ---------------------------------------------------------------------------


def test_decide_records_the_decision_and_its_audit_event(store: SqlStore, pump: Pump) -> None:
    """The decision row, the finding's status and the audit event commit together."""
    target = pump.findings[0]
    record = store.triage.decide(target, affected(), actor="alice", now=NOW, reason="triaged")
    assert record.finding_pk == target
    assert record.decision == affected()
    assert (record.actor, record.at, record.policy_pk, record.reverts_pk) == (
        "alice",
        NOW,
        None,
        None,
    )
    row = finding_state(store, target)
    assert (row["status"], row["decision_pk"], row["changed_at"]) == ("affected", record.pk, NOW)
    (event,) = events(store)
    assert event["action"] == "triage.decide"
    assert event["subject"] == f"finding:{target}"
    assert event["before"] == {"decision_pk": None, "status": "under_investigation"}
    assert event["after"] == {"decision_pk": record.pk, **affected().as_dict()}
    assert event["reason"] == "triaged"
    assert status_of(store, pump.findings[1]) == "under_investigation"


def test_unknown_finding_is_not_found(store: SqlStore, pump: Pump) -> None:
    """Deciding or reading an unknown finding raises NotFoundError."""
    with pytest.raises(NotFoundError):
        store.triage.decide(999_999, affected(), actor="alice", now=NOW)
    with pytest.raises(NotFoundError):
        store.triage.history(999_999)


def test_leaving_under_investigation_needs_the_triage_record(store: SqlStore, pump: Pump) -> None:
    """Without applicability, verifiability and related threats nothing is stored."""
    incomplete = TriageDecision(VexStatus.AFFECTED, detail="patch in 2.1")
    with pytest.raises(RuleViolationError, match="applicability, verifiability, related_threats"):
        store.triage.decide(pump.findings[0], incomplete, actor="alice", now=NOW)
    assert count_rows(store, "decision") == 0
    assert count_rows(store, "audit_event") == 0
    assert status_of(store, pump.findings[0]) == "under_investigation"


def test_kev_finding_closed_without_assessment_stores_nothing(store: SqlStore, pump: Pump) -> None:
    """REQUIREMENTS 10: no decision row, no audit event, status unchanged; four eyes."""
    add_kev(store, CVE)
    target = pump.findings[0]
    for refused, match in (
        (not_affected(), "without an assessment"),
        (not_affected(assessment="not reachable"), "without an approver"),
        (not_affected(assessment="not reachable", approver="Alice"), "must not be the actor"),
    ):
        with pytest.raises(RuleViolationError, match=match):
            store.triage.decide(target, refused, actor="alice", now=NOW)
        assert count_rows(store, "decision") == 0
        assert count_rows(store, "audit_event") == 0
        assert status_of(store, target) == "under_investigation"
    approved = not_affected(assessment="not reachable from the network", approver="bob")
    record = store.triage.decide(target, approved, actor="alice", now=NOW)
    assert record.decision.approver == "bob"
    assert status_of(store, target) == "not_affected"
    # affected is not a closure: no assessment needed even for KEV
    store.triage.decide(pump.findings[1], affected(), actor="alice", now=NOW)


def test_expired_decision_is_refused(store: SqlStore, pump: Pump) -> None:
    """expires_at must be in the future."""
    with pytest.raises(RuleViolationError, match="expires_at"):
        store.triage.decide(pump.findings[0], affected(expires_at=NOW), actor="alice", now=NOW)
    assert count_rows(store, "decision") == 0


def test_history_keeps_previous_versions(store: SqlStore, pump: Pump) -> None:
    """REQUIREMENTS 52: an edited assessment keeps the previous version retrievable."""
    target = pump.findings[0]
    first = store.triage.decide(target, affected(assessment="v1"), actor="alice", now=NOW)
    later = NOW + timedelta(hours=1)
    second = store.triage.decide(target, affected(assessment="v2"), actor="bob", now=later)
    history = store.triage.history(target)
    assert [r.pk for r in history] == [first.pk, second.pk]
    assert [r.decision.assessment for r in history] == ["v1", "v2"]
    assert [(r.actor, r.at) for r in history] == [("alice", NOW), ("bob", later)]
    edit = events(store, "triage.decide")[1]
    assert edit["before"]["assessment"] == "v1"  # type: ignore[index]
    assert edit["after"]["assessment"] == "v2"  # type: ignore[index]
    assert store.triage.history(pump.findings[1]) == []
    verify_chain(store.audit.events())


# -- carry-over policies -------------------------------------------------------------------


def lodash_policy(**changes: object) -> CarryOverPolicy:
    """A policy on CVE on lodash 4.17.20 in every product."""
    fields: dict[str, object] = {
        "name": "lodash template not used",
        "vulnerability_id": CVE,
        "family": "npm",
        "package_name": "lodash",
        "decision": not_affected(),
        "component_version": "4.17.20",
    }
    fields.update(changes)
    return CarryOverPolicy(**fields)  # type: ignore[arg-type]


def test_decision_carried_to_a_later_release_by_policy(store: SqlStore, pump: Pump) -> None:
    """A person's decision on 1.0 becomes a policy deciding 1.1, 2.0 and a new 2.1."""
    human = store.triage.decide(pump.findings[0], not_affected(), actor="alice", now=NOW)
    outcome = store.triage.carry_decision(human.pk, actor="alice", now=NOW)
    stored = outcome.policy
    assert (stored.component_version, stored.product, stored.created_by) == (
        "4.17.20",
        "pump",
        "alice",
    )
    assert outcome.counts == CarryOverCounts(applied=2, kept_human=1)
    for target in pump.findings[1:]:
        assert status_of(store, target) == "not_affected"
        (record,) = store.triage.history(target)
        assert record.policy_pk == stored.pk
        assert record.decision == not_affected()
    assert store.triage.history(pump.findings[0]) == [human]
    (apply,) = events(store, "triage.policy_apply")
    assert apply["after"]["findings"] == pump.findings[1:]  # type: ignore[index]
    # a release shipped later with the same component gets the decision on insertion
    newer = add_release(store, pump.product, "2.1")
    arrived = add_finding(store, newer, pump.lodash, CVE, cve_id=CVE)
    with store.database.write("test") as conn:
        counts = apply_policies(conn, [arrived], NOW + timedelta(days=1))
    assert counts == CarryOverCounts(applied=1)
    assert status_of(store, arrived) == "not_affected"
    assert store.triage.history(arrived)[0].actor == "policy-engine"
    # another component version is not covered
    other = add_component(store, "lodash", "4.17.21")
    untouched = add_finding(store, newer, other, CVE, cve_id=CVE)
    with store.database.write("test") as conn:
        assert apply_policies(conn, [untouched], NOW) == CarryOverCounts()
    assert status_of(store, untouched) == "under_investigation"
    verify_chain(store.audit.events())


def test_policy_product_scope(store: SqlStore, pump: Pump) -> None:
    """A policy limited to one product leaves the other product's findings alone."""
    monitor = add_product(store, "monitor")
    elsewhere = add_finding(store, add_release(store, monitor, "5.0"), pump.lodash, CVE)
    outcome = store.triage.create_policy(lodash_policy(product="pump"), actor="alice", now=NOW)
    assert outcome.counts.applied == 3
    assert status_of(store, elsewhere) == "under_investigation"
    with pytest.raises(NotFoundError, match="nowhere"):
        store.triage.create_policy(lodash_policy(product="nowhere"), actor="alice", now=NOW)


def test_range_policy(store: SqlStore, pump: Pump) -> None:
    """A vers: range policy decides the versions inside the range only."""
    versions = {"4.17.15": True, "4.17.20": True, "4.17.21": False, "3.10.1": False}
    release = add_release(store, pump.product, "3.0")
    targets = {}
    for version in versions:
        pk = add_component(store, "lodash", version) if version != "4.17.20" else pump.lodash
        targets[version] = add_finding(store, release, pk, CVE, cve_id=CVE)
    ranged = lodash_policy(component_version=None, version_range="vers:npm/>=4.0.0|<4.17.21")
    outcome = store.triage.create_policy(ranged, actor="alice", now=NOW)
    assert outcome.counts.applied == 2 + len(pump.findings)
    for version, inside in versions.items():
        expected = "not_affected" if inside else "under_investigation"
        assert status_of(store, targets[version]) == expected, version


def test_malformed_range_stores_nothing(store: SqlStore, pump: Pump) -> None:
    """A malformed range is refused with a clear error before anything is written."""
    with pytest.raises(RuleViolationError, match="malformed"):
        lodash_policy(component_version=None, version_range="vers:npm/>=banana")
    human = store.triage.decide(pump.findings[0], not_affected(), actor="alice", now=NOW)
    before = count_rows(store, "audit_event")
    for bad in ("nonsense", "vers:pypi/>=1.0", "vers:npm/>=1.0.0|>=2.0.0"):
        with pytest.raises(RuleViolationError):
            store.triage.carry_decision(
                human.pk, actor="alice", now=NOW, scope="range", version_range=bad
            )
    with pytest.raises(UsageError):
        store.triage.carry_decision(human.pk, actor="alice", now=NOW, scope="range")
    assert count_rows(store, "policy") == 0
    assert count_rows(store, "audit_event") == before


def test_log_only_records_without_changing_status(store: SqlStore, pump: Pump) -> None:
    """Log-only: applications are recorded, no decision is written, status unchanged."""
    outcome = store.triage.create_policy(
        lodash_policy(mode=PolicyMode.LOG_ONLY), actor="alice", now=NOW
    )
    assert outcome.counts == CarryOverCounts(logged=3)
    assert count_rows(store, "decision") == 0
    assert all(status_of(store, f) == "under_investigation" for f in pump.findings)
    apps = store.triage.applications(policy_pk=outcome.policy.pk)
    assert sorted(a.finding_pk for a in apps) == pump.findings
    assert all(a.mode is PolicyMode.LOG_ONLY and a.decision_pk is None and a.active for a in apps)
    (logged,) = events(store, "triage.policy_apply")
    assert logged["after"]["mode"] == "log_only"  # type: ignore[index]
    # idempotent: nothing more to record
    assert store.triage.reconcile_policies(NOW) == CarryOverCounts()
    # disabling ends the records, still without decisions
    assert store.triage.disable_policy(
        outcome.policy.pk or 0, actor="alice", now=NOW
    ).counts == CarryOverCounts(unlogged=3)
    assert count_rows(store, "decision") == 0
    assert not any(a.active for a in store.triage.applications(policy_pk=outcome.policy.pk))


def test_disabling_a_policy_reverts_its_decisions(store: SqlStore, pump: Pump) -> None:
    """Reverts restore under_investigation, are recorded as decisions and audited."""
    created = store.triage.create_policy(lodash_policy(), actor="alice", now=NOW).policy
    assert created.pk is not None
    later = NOW + timedelta(hours=2)
    outcome = store.triage.disable_policy(created.pk, actor="bob", now=later, reason="wrong")
    assert outcome.policy.enabled is False
    assert outcome.counts == CarryOverCounts(reverted=3)
    for target in pump.findings:
        assert status_of(store, target) == "under_investigation"
        applied, revert = store.triage.history(target)
        assert applied.policy_pk == created.pk
        assert (revert.reverts_pk, revert.policy_pk, revert.actor) == (applied.pk, None, "bob")
        assert revert.decision == TriageDecision(VexStatus.UNDER_INVESTIGATION)
    apps = store.triage.applications(policy_pk=created.pk)
    assert all(a.reverted_at == later and a.revert_decision_pk is not None for a in apps)
    (disable,) = events(store, "triage.policy_disable")
    assert disable["reason"] == "wrong"
    (revert_event,) = events(store, "triage.policy_revert")
    assert revert_event["after"]["findings"] == pump.findings  # type: ignore[index]
    assert revert_event["actor"] == "bob"
    with pytest.raises(ConflictError):
        store.triage.disable_policy(created.pk, actor="bob", now=later)
    assert store.triage.list_policies(include_disabled=False) == []
    # a later policy may decide the findings again (they are undecided, not a person's)
    again = store.triage.create_policy(lodash_policy(name="again"), actor="alice", now=later)
    assert again.counts.applied == 3


def test_validity_ending_reverts_on_reconcile(store: SqlStore, pump: Pump) -> None:
    """With a fixed clock: a policy whose valid_until has passed is reverted by reconcile."""
    clock = FixedClock(NOW)
    ends = NOW + timedelta(days=30)
    store.triage.create_policy(lodash_policy(valid_until=ends), actor="alice", now=clock.now())
    assert all(status_of(store, f) == "not_affected" for f in pump.findings)
    clock.set(ends - timedelta(seconds=1))
    assert store.triage.reconcile_policies(clock.now()) == CarryOverCounts()
    clock.set(ends)
    assert store.triage.reconcile_policies(clock.now()) == CarryOverCounts(reverted=3)
    assert all(status_of(store, f) == "under_investigation" for f in pump.findings)
    (revert,) = events(store, "triage.policy_revert")
    assert revert["actor"] == "policy-engine"
    assert store.triage.reconcile_policies(clock.now()) == CarryOverCounts()
    # a policy not yet valid applies once its time comes
    starts = ends + timedelta(days=1)
    store.triage.create_policy(lodash_policy(valid_from=starts), actor="alice", now=clock.now())
    assert all(status_of(store, f) == "under_investigation" for f in pump.findings)
    clock.set(starts)
    assert store.triage.reconcile_policies(clock.now()).applied == 3


def test_human_decision_is_never_overridden(store: SqlStore, pump: Pump) -> None:
    """Decided by a person before or after a policy: policies leave the finding alone."""
    before = store.triage.decide(pump.findings[0], affected(), actor="alice", now=NOW)
    created = store.triage.create_policy(lodash_policy(), actor="alice", now=NOW)
    assert created.counts == CarryOverCounts(applied=2, kept_human=1)
    assert status_of(store, pump.findings[0]) == "affected"
    # a person takes over a policy-decided finding: its application ends
    after = store.triage.decide(pump.findings[1], affected(), actor="bob", now=NOW)
    (app,) = store.triage.applications(finding_pk=pump.findings[1])
    assert app.revert_decision_pk == after.pk
    assert app.reverted_at == NOW
    # a higher-priority policy, a reconcile and a disable never touch them
    store.triage.create_policy(lodash_policy(name="p2", priority=5), actor="alice", now=NOW)
    store.triage.reconcile_policies(NOW)
    store.triage.disable_policy(created.policy.pk or 0, actor="alice", now=NOW)
    assert store.triage.history(pump.findings[0]) == [before]
    assert store.triage.history(pump.findings[1])[-1] == after
    assert status_of(store, pump.findings[0]) == status_of(store, pump.findings[1]) == "affected"


def test_higher_priority_policy_replaces_the_deciding_one(store: SqlStore, pump: Pump) -> None:
    """The winner changes: revert the old policy's decision, then apply the new one."""
    low = store.triage.create_policy(lodash_policy(), actor="alice", now=NOW).policy
    high_decision = affected(detail="upgrade to 4.17.21 in the next release")
    high = store.triage.create_policy(
        lodash_policy(name="high", priority=10, decision=high_decision), actor="alice", now=NOW
    )
    assert high.counts == CarryOverCounts(applied=3, reverted=3)
    target = pump.findings[2]
    history = store.triage.history(target)
    assert [(r.policy_pk, r.decision.status.value) for r in history] == [
        (low.pk, "not_affected"),
        (None, "under_investigation"),
        (high.policy.pk, "affected"),
    ]
    assert history[1].reverts_pk == history[0].pk
    assert status_of(store, target) == "affected"
    # disabling the winner hands the findings back to the lower-priority policy
    back = store.triage.disable_policy(high.policy.pk or 0, actor="alice", now=NOW)
    assert back.counts == CarryOverCounts(applied=3, reverted=3)
    assert status_of(store, target) == "not_affected"
    assert store.triage.history(target)[-1].policy_pk == low.pk


def test_policy_matches_through_aliases_case_insensitively(store: SqlStore, pump: Pump) -> None:
    """A policy naming a GHSA alias (any case) decides findings filed under the CVE."""
    add_aliases(store, pump.lodash, CVE, [CVE, "GHSA-35jh-r3h4-6jhm"])
    outcome = store.triage.create_policy(
        lodash_policy(vulnerability_id="ghsa-35JH-R3H4-6JHM"), actor="alice", now=NOW
    )
    assert outcome.counts.applied == 3


def test_kev_policy_needs_four_eyes(store: SqlStore, pump: Pump) -> None:
    """A policy closing a KEV finding needs assessment and another approver; else refused."""
    add_kev(store, CVE)
    with pytest.raises(RuleViolationError, match="assessment"):
        store.triage.create_policy(lodash_policy(), actor="alice", now=NOW)
    assert count_rows(store, "policy") == 0
    four_eyes = not_affected(assessment="not reachable", approver="bob")
    outcome = store.triage.create_policy(lodash_policy(decision=four_eyes), actor="alice", now=NOW)
    assert outcome.counts.applied == 3


def test_policy_created_before_kev_listing_is_refused_then(store: SqlStore, pump: Pump) -> None:
    """When the CVE enters KEV later, a policy without four-eyes approval stops deciding."""
    store.triage.create_policy(lodash_policy(), actor="alice", now=NOW)
    add_kev(store, CVE)
    counts = store.triage.reconcile_policies(NOW + timedelta(days=1))
    assert counts == CarryOverCounts(reverted=3, refused=3)
    assert all(status_of(store, f) == "under_investigation" for f in pump.findings)


class _Rollback(Exception):
    """Raised to roll the caller's transaction back."""


def _insert_then_fail(store: SqlStore, pump: Pump, release: int) -> None:
    """A caller inserting a finding, applying policies, then failing."""
    with store.database.write("test") as conn:
        pk = conn.execute(
            insert(finding)
            .values(finding_values(pump.product, release, pump.lodash, CVE, CVE, "open"))
            .returning(finding.c.pk)
        ).scalar_one()
        assert apply_policies(conn, [pk], NOW).applied == 1
        raise _Rollback


def test_apply_policies_runs_in_the_callers_transaction(store: SqlStore, pump: Pump) -> None:
    """A rolled-back caller leaves no decision, application or audit event behind."""
    store.triage.create_policy(lodash_policy(product="pump"), actor="alice", now=NOW)
    decisions, events_before = count_rows(store, "decision"), count_rows(store, "audit_event")
    release = add_release(store, pump.product, "9.0")
    with pytest.raises(_Rollback):
        _insert_then_fail(store, pump, release)
    assert count_rows(store, "decision") == decisions
    assert count_rows(store, "audit_event") == events_before
    with store.database.write("test") as conn:
        assert apply_policies(conn, [], NOW) == CarryOverCounts()


def test_components_without_an_ecosystem(store: SqlStore) -> None:
    """CPE-matched components (no family) are keyed by name and compared as generic versions."""
    product = add_product(store, "pump")
    release = add_release(store, product, "1.0")
    zlib = add_component(store, "zlib", "1.2.11", family=None)
    target = add_finding(store, release, zlib, "CVE-2022-37434", cve_id="CVE-2022-37434")
    policy = CarryOverPolicy(
        name="zlib inflate not used",
        vulnerability_id="CVE-2022-37434",
        family=None,
        package_name="ZLIB",
        decision=not_affected(),
        version_range="vers:generic/<1.2.13",
    )
    assert store.triage.create_policy(policy, actor="alice", now=NOW).counts.applied == 1
    assert status_of(store, target) == "not_affected"
    (stored,) = store.triage.list_policies()
    assert stored.family is None
    assert stored.version_range == "vers:generic/<1.2.13"


def test_carry_refuses_policy_decisions(store: SqlStore, pump: Pump) -> None:
    """Only a person's decision that left under_investigation can be carried."""
    store.triage.create_policy(lodash_policy(), actor="alice", now=NOW)
    (by_policy,) = store.triage.history(pump.findings[0])
    with pytest.raises(RuleViolationError, match="policy engine"):
        store.triage.carry_decision(by_policy.pk, actor="alice", now=NOW)
    with pytest.raises(NotFoundError):
        store.triage.carry_decision(999_999, actor="alice", now=NOW)
    with pytest.raises(UsageError):
        store.triage.carry_decision(by_policy.pk, actor="alice", now=NOW, scope="galaxy")
    reopened = store.triage.decide(
        pump.findings[0], TriageDecision(VexStatus.UNDER_INVESTIGATION), actor="bob", now=NOW
    )
    with pytest.raises(RuleViolationError, match="nothing to carry"):
        store.triage.carry_decision(reopened.pk, actor="bob", now=NOW)


def test_carry_takes_expiry_as_validity_and_all_products(store: SqlStore, pump: Pump) -> None:
    """The decision's expiry bounds the policy; all_products drops the product scope."""
    expires = NOW + timedelta(days=90)
    human = store.triage.decide(
        pump.findings[0], not_affected(expires_at=expires), actor="alice", now=NOW
    )
    outcome = store.triage.carry_decision(
        human.pk, actor="bob", now=NOW, all_products=True, priority=3, name="carried"
    )
    stored = outcome.policy
    assert (stored.valid_until, stored.product, stored.priority, stored.name) == (
        expires,
        None,
        3,
        "carried",
    )
    assert stored.decision.expires_at is None
    assert store.triage.list_policies() == [stored]


def test_an_unreadable_stored_policy_is_ignored(
    store: SqlStore, pump: Pump, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored range that can no longer be read never breaks a run; its decisions revert."""
    created = store.triage.create_policy(lodash_policy(), actor="alice", now=NOW).policy
    with store.database.engine.begin() as conn:
        conn.execute(
            policy.update()
            .where(policy.c.pk == created.pk)
            .values(component_version=None, version_range="vers:npm/>=banana")
        )
    assert store.triage.list_policies() == []
    assert store.triage.reconcile_policies(NOW) == CarryOverCounts(reverted=3)
    assert "cannot be read" in caplog.text


# -- statements do not grow with the number of findings -------------------------------------


def _portfolio_of(store: SqlStore, size: int) -> tuple[int, list[int]]:
    product = add_product(store, f"p{size}")
    return product, add_releases(store, product, [f"{size}.{i}" for i in range(size)])


@pytest.mark.parametrize("runner", ["reconcile", "apply", "disable"])
def test_statement_counts_do_not_grow_with_findings(store: SqlStore, runner: str) -> None:
    """10 and 200 findings take the same number of statements (set-based, chunked)."""
    counts: list[int] = []
    lodash = add_component(store, "lodash", "4.17.20")
    for round_, size in enumerate((10, 200), start=1):
        product, releases = _portfolio_of(store, size)
        cve = f"CVE-2099-{size:04d}"
        made = lodash_policy(vulnerability_id=cve, product=f"p{size}")
        if runner == "reconcile":  # stored before it is valid: reconcile applies it
            made = lodash_policy(vulnerability_id=cve, product=f"p{size}", valid_from=NOW)
        if runner != "disable":
            store.triage.create_policy(made, actor="alice", now=NOW - timedelta(days=1))
        pks = add_findings(store, product, releases, lodash, cve, cve_id=cve)
        for pk in pks[:2]:  # decided by a person: kept, their histories read
            store.triage.decide(pk, affected(), actor="alice", now=NOW - timedelta(hours=1))
        if runner == "reconcile":
            with count_statements(store) as seen:
                result = store.triage.reconcile_policies(NOW)
            # reconcile re-plans every policy's findings: earlier rounds' are kept again
            expected = CarryOverCounts(applied=size - 2, kept_human=2 * round_)
        elif runner == "apply":
            with count_statements(store) as seen, store.database.write("test") as conn:
                result = apply_policies(conn, pks, NOW)
            expected = CarryOverCounts(applied=size - 2, kept_human=2)
        else:
            outcome = store.triage.create_policy(made, actor="alice", now=NOW)
            assert outcome.counts == CarryOverCounts(applied=size - 2, kept_human=2)
            with count_statements(store) as seen:
                result = store.triage.disable_policy(
                    outcome.policy.pk or 0, actor="alice", now=NOW
                ).counts
            expected = CarryOverCounts(reverted=size - 2)
        assert result == expected
        counts.append(len(seen))
    assert counts[0] == counts[1], counts
