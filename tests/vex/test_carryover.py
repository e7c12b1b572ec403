"""Carry-over policies: selection rules, vers ranges, and the apply/log/revert plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from univers.version_range import VersionRange
from univers.versions import SemverVersion

from medwarden.core.ecosystems import normalize_name
from medwarden.errors import RuleViolationError, UsageError
from medwarden.vex.carryover import (
    CarryOverCounts,
    CarryOverPlan,
    CarryOverPolicy,
    FindingFacts,
    PolicyMode,
    VersRange,
    plan_carry_over,
    select_policy,
)
from medwarden.vex.model import VexJustification, VexStatus
from medwarden.vex.triage import DecisionOrigin, TriageDecision

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DECISION = TriageDecision(
    VexStatus.NOT_AFFECTED,
    justification=VexJustification.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH,
    applicability="bundled",
    verifiability="code review",
    related_threats="none",
)
CLOSE_KEV = replace(DECISION, assessment="reviewed", approver="bob")


def policy(**changes: Any) -> CarryOverPolicy:
    """A policy on CVE-2021-23337 for npm lodash 4.17.20."""
    fields: dict[str, Any] = {
        "name": "lodash",
        "vulnerability_id": "CVE-2021-23337",
        "family": "npm",
        "package_name": "lodash",
        "decision": DECISION,
        "component_version": "4.17.20",
        "created_by": "alice",
    }
    fields.update(changes)
    return CarryOverPolicy(**fields)


def facts(**changes: Any) -> FindingFacts:
    """An undecided finding of CVE-2021-23337 on npm lodash 4.17.20 in product pump."""
    fields: dict[str, Any] = {
        "pk": 1,
        "vulnerability_id": "CVE-2021-23337",
        "family": "npm",
        "package_name": "lodash",
        "version": "4.17.20",
        "product": "pump",
    }
    fields.update(changes)
    return FindingFacts(**fields)


# -- building policies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "family"),
    [
        ("nonsense", "npm"),
        ("vers:", "npm"),
        ("vers:npm/", "npm"),
        ("vers:npm/>=banana", "npm"),
        ("vers:npm/%3E=1.0.0", "npm"),
        ("vers:pypi/>=1.0", "npm"),  # not the ecosystem's scheme
        ("vers:foo/1.0", "npm"),
        ("vers:npm/>=1.0.0|>=2.0.0", "npm"),  # two lower bounds in a row
        ("vers:npm/<1.0.0|<=2.0.0", "npm"),
        ("vers:generic/>=abc", None),
        ("vers:npm/>=1.0.0", None),  # no ecosystem: generic
    ],
)
def test_malformed_range_is_refused_clearly(text: str, family: str | None) -> None:
    """A malformed range raises RuleViolationError naming the range."""
    with pytest.raises(RuleViolationError) as raised:
        policy(component_version=None, version_range=text, family=family)
    assert "version range" in raised.value.message


@pytest.mark.parametrize(
    "changes",
    [
        {"component_version": None},
        {"version_range": "vers:npm/<5.0.0"},
        {"name": " "},
        {"vulnerability_id": ""},
        {"package_name": ""},
        {"priority": True},
        {"mode": "sometimes"},
    ],
)
def test_policy_fields_are_checked(changes: dict[str, Any]) -> None:
    """Exactly one of version and range; names present; integer priority; known mode."""
    with pytest.raises(UsageError):
        policy(**changes)


def test_policy_validity_and_decision_expiry() -> None:
    """valid_until after valid_from; a policy decision does not expire on its own."""
    with pytest.raises(RuleViolationError, match="valid_until"):
        policy(valid_from=NOW, valid_until=NOW)
    with pytest.raises(RuleViolationError, match="cannot expire"):
        policy(decision=replace(DECISION, expires_at=NOW + timedelta(days=1)))
    built = policy(family=" ", mode="log_only", valid_from=NOW.replace(tzinfo=None))
    assert built.family is None
    assert built.mode is PolicyMode.LOG_ONLY
    assert built.valid_from == NOW


@pytest.mark.parametrize(
    ("text", "family", "inside", "outside"),
    [
        ("vers:npm/>=4.0.0|<4.17.21", "npm", ["4.0.0", "4.17.20", "v4.5.0"], ["4.17.21", "3.9.9"]),
        ("vers:npm/*", "npm", ["0.0.1", "99.0.0"], []),
        ("vers:npm/!=4.17.20", "npm", ["4.17.19"], ["4.17.20"]),
        ("vers:npm/<1.0.0|>=2.0.0|<3.0.0", "npm", ["0.9.0", "2.5.0"], ["1.5.0", "3.0.0"]),
        ("vers:generic/>=1.1.1|<1.1.1n", None, ["1.1.1", "1.1.1k"], ["1.1.1n", "1.1.0"]),
        ("vers:deb/>=1:2.0-1|<1:2.0-3", "Debian", ["1:2.0-2"], ["2.0-2", "1:2.0-3"]),
        ("vers:maven/>=1.0|<2.0", "Maven", ["1.0.0", "1.9.9-jre"], ["2.0.0", "0.9"]),
        ("vers:pypi/>=2.0|<2.2|=3.1", "PyPI", ["2.1.post1", "3.1.0"], ["2.2", "3.0"]),
        ("vers:golang/>=v1.2.0|<v1.3.0", "Go", ["v1.2.5", "1.2.0"], ["v1.3.0"]),
    ],
)
def test_ranges_use_each_ecosystems_ordering(
    text: str, family: str | None, inside: list[str], outside: list[str]
) -> None:
    """vers ranges compare with the ordering matching uses for the ecosystem."""
    parsed = VersRange.parse(text, family)
    for version in inside:
        assert parsed.contains(version), version
    for version in outside:
        assert not parsed.contains(version), version
    assert not parsed.contains("not a version") or parsed.any_version


def test_exact_version_compares_under_the_ordering() -> None:
    """Maven 1.0 is 1.0.0; an unparsable version only matches itself."""
    maven = policy(family="Maven", package_name="g:a", component_version="1.0")
    assert maven.covers(facts(family="Maven", package_name="g:a", version="1.0.0"))
    assert not maven.covers(facts(family="Maven", package_name="g:a", version="1.0.1"))
    odd = policy(component_version="not-semver")
    assert odd.covers(facts(version="not-semver"))
    assert not odd.covers(facts(version="4.17.20"))
    assert not policy().covers(facts(version=None))


# -- selection -----------------------------------------------------------------------------

VERSIONS = ["1.0.0", "1.2.0", "2.0.0-rc.1", "2.0.0", "2.1.3"]
RANGES = ["vers:npm/<2.0.0", "vers:npm/>=1.2.0|<2.1.0", "vers:npm/>=2.0.0", "vers:npm/!=1.2.0"]
IDS = ["CVE-2021-1", "cve-2021-1", "GHSA-ab12-cd34-ef56", "CVE-2021-2"]
PACKAGES = ["lodash", "LODASH", "left-pad"]
moments = st.one_of(
    st.none(), st.sampled_from([NOW - timedelta(days=1), NOW, NOW + timedelta(days=1)])
)


@st.composite
def policies(draw: st.DrawFn, pk: int) -> CarryOverPolicy:
    """A random policy over a small vocabulary (so that many of them collide)."""
    ranged = draw(st.booleans())
    valid_from, valid_until = draw(moments), draw(moments)
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        valid_until = None
    return CarryOverPolicy(
        name=f"p{pk}",
        vulnerability_id=draw(st.sampled_from(IDS)),
        family="npm",
        package_name=draw(st.sampled_from(PACKAGES)),
        decision=DECISION,
        component_version=None if ranged else draw(st.sampled_from(VERSIONS)),
        version_range=draw(st.sampled_from(RANGES)) if ranged else None,
        product=draw(st.sampled_from([None, "pump", "monitor"])),
        priority=draw(st.integers(0, 2)),
        valid_from=valid_from,
        valid_until=valid_until,
        mode=draw(st.sampled_from(PolicyMode)),
        enabled=draw(st.booleans()),
        pk=pk,
        created_at=NOW - timedelta(days=draw(st.integers(1, 3))),
        created_by="alice",
    )


@st.composite
def policy_sets(draw: st.DrawFn) -> list[CarryOverPolicy]:
    """Up to eight policies with distinct keys."""
    count = draw(st.integers(0, 8))
    return [draw(policies(pk)) for pk in range(1, count + 1)]


@st.composite
def findings(draw: st.DrawFn, pk: int = 1) -> FindingFacts:
    """A random finding over the same vocabulary."""
    return FindingFacts(
        pk=pk,
        vulnerability_id=draw(st.sampled_from(["CVE-2021-1", "GHSA-ab12-cd34-ef56", "CVE-2021-3"])),
        aliases=tuple(draw(st.lists(st.sampled_from(IDS), max_size=2))),
        family="npm",
        package_name=draw(st.sampled_from(PACKAGES)),
        version=draw(st.sampled_from([*VERSIONS, None])),
        product=draw(st.sampled_from(["pump", "monitor"])),
    )


def oracle_selects(p: CarryOverPolicy, f: FindingFacts, now: datetime) -> bool:
    """The selection rules written out independently (univers decides range membership)."""
    if not p.enabled:
        return False
    if p.valid_from is not None and now < p.valid_from:
        return False
    if p.valid_until is not None and now >= p.valid_until:
        return False
    ids = {i.lower() for i in (f.vulnerability_id, *f.aliases)}
    if p.vulnerability_id.lower() not in ids:
        return False
    if normalize_name("npm", p.package_name) != normalize_name("npm", f.package_name):
        return False
    if p.product is not None and p.product != f.product:
        return False
    if f.version is None:
        return False
    if p.version_range is not None:
        return bool(
            cast(Any, VersionRange).from_string(p.version_range).contains(SemverVersion(f.version))
        )
    return p.component_version == f.version


@given(findings(), policy_sets(), st.sampled_from([NOW - timedelta(days=2), NOW]))
def test_selection_rules(
    facts_: FindingFacts, candidates: list[CarryOverPolicy], now: datetime
) -> None:
    """Enabled, in force, same vulnerability/package/version/product; priority then newest."""
    eligible = [p for p in candidates if oracle_selects(p, facts_, now)]
    chosen = select_policy(facts_, candidates, now)
    if not eligible:
        assert chosen is None
        return
    assert chosen is not None
    assert chosen in eligible
    top = max(p.priority for p in eligible)
    assert chosen.priority == top
    newest = max((p.created_at, p.pk) for p in eligible if p.priority == top)
    assert (chosen.created_at, chosen.pk) == newest


@given(findings(), policy_sets())
def test_selection_does_not_depend_on_order(
    facts_: FindingFacts, candidates: list[CarryOverPolicy]
) -> None:
    """Shuffling the policies never changes the winner."""
    assert select_policy(facts_, candidates, NOW) == select_policy(
        facts_, list(reversed(candidates)), NOW
    )


def test_vulnerability_ids_compare_case_insensitively_with_aliases() -> None:
    """A GHSA policy decides a CVE finding that lists the GHSA as an alias, in any case."""
    ghsa = policy(vulnerability_id="ghsa-35JH-r3h4-6jhm")
    assert not ghsa.covers(facts())
    assert ghsa.covers(facts(aliases=("GHSA-35jh-r3h4-6jhm",)))
    assert policy(vulnerability_id="cve-2021-23337").covers(facts())


def test_product_scope_and_package_key() -> None:
    """A product scope limits the policy; the package key is family plus canonical name."""
    assert policy(product="pump").covers(facts())
    assert not policy(product="monitor").covers(facts())
    assert not policy(family="PyPI").covers(facts())
    pypi = policy(family="PyPI", package_name="Django_Rest", component_version="3.0")
    assert pypi.covers(facts(family="PyPI", package_name="django-rest", version="3.0"))
    cpe = policy(family=None, package_name="ZLIB", component_version="1.2.11")
    assert cpe.covers(facts(family=None, package_name="zlib", version="1.2.11"))


def test_validity_window_is_half_open() -> None:
    """valid_from is inclusive, valid_until exclusive."""
    windowed = policy(valid_from=NOW, valid_until=NOW + timedelta(days=1))
    assert windowed.in_force(NOW)
    assert not windowed.in_force(NOW - timedelta(seconds=1))
    assert not windowed.in_force(NOW + timedelta(days=1))
    assert not replace(windowed, enabled=False).in_force(NOW)


@given(data=st.data())
def test_range_containment_agrees_with_univers(data: st.DataObject) -> None:
    """For npm SemVer ranges, containment is univers' own, bound for bound."""
    pool = [f"{a}.{b}.{c}" for a in range(3) for b in range(3) for c in range(2)]
    pool += ["1.0.0-alpha", "1.0.0-beta.2", "2.1.0-rc.1"]
    bounds = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True))
    bounds.sort(key=SemverVersion)
    upper_first = data.draw(st.booleans())
    parts = []
    for i, bound in enumerate(bounds):
        upper = (i % 2 == 0) == upper_first
        comparator = data.draw(st.sampled_from([">", ">="] if upper else ["<", "<="]))
        parts.append(f"{comparator}{bound}")
    rest = [v for v in pool if v not in bounds]
    for extra in data.draw(st.lists(st.sampled_from(rest), max_size=2, unique=True)):
        parts.append(data.draw(st.sampled_from(["", "!="])) + extra)
    text = "vers:npm/" + "|".join(parts)
    ours = VersRange.parse(text, "npm")
    theirs = cast(Any, VersionRange).from_string(text)
    for version in pool:
        assert ours.contains(version) == theirs.contains(SemverVersion(version)), (text, version)


# -- planning ------------------------------------------------------------------------------


def test_plan_applies_reverts_and_logs() -> None:
    """Undecided -> apply; decided by a policy no longer selected -> revert; log-only logged."""
    applies = policy(pk=1)
    logs = policy(pk=2, mode=PolicyMode.LOG_ONLY, name="try")
    plan = plan_carry_over(
        [
            facts(pk=10),
            facts(pk=11, origin=DecisionOrigin.POLICY, policy_pk=9),
            facts(
                pk=12, origin=DecisionOrigin.POLICY, policy_pk=1, logged_policy_pks=frozenset({2})
            ),
            facts(pk=13, version="4.17.21", origin=DecisionOrigin.POLICY, policy_pk=1),
        ],
        [applies, logs],
        NOW,
    )
    assert [(a.finding_pk, a.policy.pk) for a in plan.apply] == [(10, 1), (11, 1)]
    assert [(r.finding_pk, r.policy_pk) for r in plan.revert] == [(11, 9), (13, 1)]
    assert [(a.finding_pk, a.policy.pk) for a in plan.log_only] == [(10, 2), (11, 2)]
    assert plan.unlog == ()
    assert CarryOverCounts.of(plan) == CarryOverCounts(applied=2, logged=2, reverted=2)


def test_human_decisions_are_never_planned_over() -> None:
    """A person's decision is kept; its log-only records end."""
    plan = plan_carry_over(
        [facts(origin=DecisionOrigin.HUMAN, logged_policy_pks=frozenset({2}))],
        [policy(pk=1, priority=100), policy(pk=2, mode=PolicyMode.LOG_ONLY)],
        NOW,
    )
    assert plan.apply == plan.revert == plan.log_only == ()
    assert [a.policy.pk for a in plan.kept_human] == [1]
    assert [(r.finding_pk, r.policy_pk) for r in plan.unlog] == [(1, 2)]


def test_kev_finding_needs_a_four_eyes_policy() -> None:
    """A policy closing a KEV finding without approval is refused; the next one decides."""
    plain = policy(pk=1, priority=5)
    approved = policy(pk=2, decision=CLOSE_KEV)
    plan = plan_carry_over([facts(kev_listed=True)], [plain, approved], NOW)
    assert [a.policy.pk for a in plan.apply] == [2]
    assert [a.policy.pk for a in plan.refused] == [1]
    self_approved = policy(pk=3, decision=replace(CLOSE_KEV, approver="alice"))
    plan = plan_carry_over([facts(kev_listed=True)], [self_approved], NOW)
    assert plan.apply == ()
    assert len(plan.refused) == 1


def _carry_out(plan: CarryOverPlan, current: list[FindingFacts]) -> list[FindingFacts]:
    """What the store does with a plan, on the facts."""
    out = []
    for f in current:
        updated = f
        if any(r.finding_pk == f.pk for r in plan.revert):
            updated = replace(updated, origin=DecisionOrigin.NONE, policy_pk=None)
        for a in plan.apply:
            if a.finding_pk == f.pk:
                updated = replace(updated, origin=DecisionOrigin.POLICY, policy_pk=a.policy.pk)
        logged = set(updated.logged_policy_pks)
        logged -= {r.policy_pk for r in plan.unlog if r.finding_pk == f.pk}
        logged |= {int(a.policy.pk or 0) for a in plan.log_only if a.finding_pk == f.pk}
        out.append(replace(updated, logged_policy_pks=frozenset(logged)))
    return out


@st.composite
def finding_sets(draw: st.DrawFn) -> list[FindingFacts]:
    """Findings with distinct keys and random current origins."""
    out = []
    for pk in range(1, draw(st.integers(1, 6)) + 1):
        base = draw(findings(pk))
        origin = draw(st.sampled_from(DecisionOrigin))
        policy_pk = draw(st.integers(1, 8)) if origin is DecisionOrigin.POLICY else None
        out.append(replace(base, origin=origin, policy_pk=policy_pk))
    return out


@given(finding_sets(), policy_sets(), st.sampled_from([NOW, NOW + timedelta(days=2)]))
def test_plan_properties(
    current: list[FindingFacts], candidates: list[CarryOverPolicy], now: datetime
) -> None:
    """Humans untouched; applies are selected apply policies; carrying out is idempotent."""
    plan = plan_carry_over(current, candidates, now)
    by_pk = {f.pk: f for f in current}
    for action in plan.apply:
        assert by_pk[action.finding_pk].origin is not DecisionOrigin.HUMAN
        assert action.policy.mode is PolicyMode.APPLY
        appliers = [p for p in candidates if p.mode is PolicyMode.APPLY]
        assert action.policy == select_policy(by_pk[action.finding_pk], appliers, now)
    for action in plan.log_only:
        assert action.policy.mode is PolicyMode.LOG_ONLY
    for revert in plan.revert:
        assert by_pk[revert.finding_pk].origin is DecisionOrigin.POLICY
    assert len({a.finding_pk for a in plan.apply}) == len(plan.apply)
    again = plan_carry_over(_carry_out(plan, current), candidates, now)
    assert again.empty, again
