"""Carry-over policies: reuse a triage decision for every finding it also holds for.

A device line ships the same component version in release after release; once someone
has decided that CVE-X on ``zlib 1.2.13`` does not affect the product, every later
release holding ``zlib 1.2.13`` gets the same finding.  A :class:`CarryOverPolicy`
records that decision once, with the findings it covers:

* the **vulnerability** (its id, compared case-insensitively with the finding's id,
  CVE id and aliases);
* the **package key** ``(family, package_name)``: the ecosystem family and canonical name
  advisories use (``("npm", "lodash")``); ``family`` is ``None`` for components
  without a package ecosystem (matched by CPE), whose name is then the component name,
  compared case-insensitively;
* the **component version**: one exact version (equal under the ecosystem's ordering,
  so Maven ``1.0`` is ``1.0.0``) or a ``vers:`` range (https://github.com/package-url/vers-spec)
  whose scheme is the ecosystem's ordering (``vers:npm/>=1.0.0|<1.2.5``,
  ``vers:generic/...`` without an ecosystem), read with univers and compared with
  the same orderings matching uses (:mod:`medwarden.matching.versions`);
* optionally one **product** (its slug); otherwise every product.

**Selection** (:func:`select_policy`): among the enabled policies in force at ``now``
(``valid_from <= now < valid_until``) that cover the finding, the highest ``priority``
wins; ties go to the newest policy (``created_at``, then ``pk``).

**A human decision is never overridden.**  A policy only decides findings that are
undecided or whose current decision was made by a policy (:class:`DecisionOrigin`).  A
person's later decision on a policy-decided finding takes the finding out of the
policies' hands for good.

**Revert**: a finding decided by a policy that no longer selects it (disabled, expired,
outranked, or no longer covering it) gets its decision reverted: the decision before the
policy's is restored (or ``under_investigation`` when there was none).

**Log-only** policies (``mode=log_only``) never change a finding: they record which
findings they *would* decide, so a rule can be tried before it is switched on.  They
are selected among themselves, independently of the ``apply`` policies.

**Decision rules still hold**: a policy's decision is checked against each finding with
:func:`~medwarden.vex.triage.validate_decision`, the policy's author as the actor; a
policy closing a KEV-listed finding therefore needs an assessment and an approver other
than its author, and a policy that fails the rules for a finding is *refused* for it
(the next eligible policy may decide it instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any, cast

from univers.version_range import VersionRange

from medwarden.core.clock import ensure_utc
from medwarden.core.ecosystems import normalize_name
from medwarden.errors import MedwardenError, RuleViolationError, UsageError
from medwarden.matching.versions import (
    GENERIC,
    OrderedVersion,
    ordering_for_ecosystem,
    parse_version,
)
from medwarden.vex.triage import DecisionOrigin, TriageDecision, validate_decision

__all__ = [
    "POLICY_ENGINE",
    "CarryOverCounts",
    "CarryOverPlan",
    "CarryOverPolicy",
    "FindingFacts",
    "PlannedAction",
    "PlannedRevert",
    "PolicyApplication",
    "PolicyMode",
    "PolicyOutcome",
    "VersRange",
    "ordering_for_family",
    "plan_carry_over",
    "select_policy",
]

POLICY_ENGINE = "policy-engine"
"""The actor recorded for decisions the policy engine writes on its own schedule."""

_EPOCH = datetime.min.replace(tzinfo=UTC)
_LOWER = frozenset({"<", "<="})
_UPPER = frozenset({">", ">="})


class PolicyMode(StrEnum):
    """Whether a policy decides findings (``apply``) or only records what it would decide."""

    APPLY = "apply"
    LOG_ONLY = "log_only"


def ordering_for_family(family: str | None) -> str:
    """The version ordering of an ecosystem family (``generic`` without a family)."""
    return GENERIC if family is None else ordering_for_ecosystem(family)


def _parse(ordering: str, text: str) -> OrderedVersion:
    return parse_version(ordering, text)


def _equal(a: OrderedVersion, b: OrderedVersion) -> bool:
    return a <= b and b <= a


def _satisfies(version: OrderedVersion, comparator: str, bound: OrderedVersion) -> bool:
    """Whether ``version`` satisfies ``<comparator> bound``."""
    if comparator == "<":
        return version < bound
    if comparator == "<=":
        return version <= bound
    if comparator == ">":
        return bound < version
    if comparator == ">=":
        return bound <= version
    if comparator == "!=":
        return not _equal(version, bound)
    return _equal(version, bound)


@dataclass(frozen=True, slots=True)
class VersRange:
    """A ``vers:`` range read by univers, its bounds parsed under one medwarden ordering.

    Build it with :meth:`parse`; :meth:`contains` follows the vers containment
    algorithm (https://github.com/package-url/vers-spec, as univers implements it) with
    the ecosystem's ordering from :func:`~medwarden.matching.versions.parse_version`."""

    text: str
    ordering: str
    constraints: tuple[tuple[str, OrderedVersion], ...]
    any_version: bool = False

    @classmethod
    def parse(cls, text: str, family: str | None) -> VersRange:
        """Read ``text`` for a package of ``family``; raise :class:`RuleViolationError`."""
        ordering = ordering_for_family(family)
        what = f"version range {text!r}"
        stripped = text.strip()
        if not stripped.lower().startswith("vers:"):
            raise RuleViolationError(
                f"{what} is not a vers: range", hint="write e.g. vers:npm/>=1.0.0|<1.2.5"
            )
        scheme, _, body = stripped[5:].partition("/")
        if scheme.lower() != ordering:
            subject = family or "a package without an ecosystem"
            raise RuleViolationError(
                f"{what} uses versioning scheme {scheme!r}, but {subject} versions are "
                f"compared as {ordering!r}",
                hint=f"write vers:{ordering}/...",
            )
        if body.strip() == "*":
            return cls(stripped, ordering, (), any_version=True)
        try:
            parsed = cast(Any, VersionRange).from_string(stripped)
            raw = [(str(c.comparator), str(c.version.string)) for c in parsed.constraints]
        except (ValueError, TypeError, AttributeError) as exc:
            raise RuleViolationError(f"{what} is malformed: {exc}") from None
        try:
            constraints = [(comp, _parse(ordering, version)) for comp, version in raw]
        except MedwardenError as exc:
            raise RuleViolationError(f"{what} is malformed: {exc}") from None
        constraints.sort(key=lambda item: item[1])
        bounds = [comp for comp, _v in constraints if comp not in ("=", "!=")]
        for current, following in pairwise(bounds):
            if (current in _UPPER) == (following in _UPPER):
                raise RuleViolationError(
                    f"{what} is malformed: constraints {current!r} and {following!r} follow "
                    "each other",
                    hint="a vers range alternates lower and upper bounds (>=a|<b|>=c|<d)",
                )
        return cls(stripped, ordering, tuple(constraints))

    def contains(self, version: str) -> bool:
        """Whether ``version`` is in the range; a version the ordering cannot read is not."""
        if self.any_version:
            return True
        try:
            tested = _parse(self.ordering, version)
        except MedwardenError:
            return False
        constraints = self.constraints
        if len(constraints) == 1:
            comparator, bound = constraints[0]
            return _satisfies(tested, comparator, bound)
        if any(c == "!=" and _equal(tested, b) for c, b in constraints):
            return False
        if any("=" in c and c != "!=" and _equal(tested, b) for c, b in constraints):
            return True
        ranges = [(c, b) for c, b in constraints if c not in ("=", "!=")]
        if not ranges:
            return False
        if len(ranges) == 1:
            return _satisfies(tested, *ranges[0])
        if ranges[0][0] in _LOWER and tested < ranges[0][1]:
            return True
        for (cur, low), (nxt, high) in pairwise(ranges):
            if cur in _UPPER and nxt in _LOWER and low < tested and tested < high:
                return True
        last_comparator, last = ranges[-1]
        return last_comparator in _UPPER and last < tested


@dataclass(frozen=True, slots=True)
class CarryOverPolicy:
    """A decision to carry to every finding of a vulnerability on a package version (range).

    Exactly one of ``component_version`` and ``version_range`` is given.  ``product`` is
    a product slug, or None for every product.  ``pk``, ``created_at`` and
    ``created_by`` are set once stored.  The decision may not carry ``expires_at``: a
    policy's end is ``valid_until``.  A malformed range raises
    :class:`~medwarden.errors.RuleViolationError` when the policy is built.
    """

    name: str
    vulnerability_id: str
    family: str | None
    package_name: str
    decision: TriageDecision
    component_version: str | None = None
    version_range: str | None = None
    product: str | None = None
    priority: int = 0
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    mode: PolicyMode = PolicyMode.APPLY
    enabled: bool = True
    pk: int | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    _range: VersRange | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the fields; read the version range; normalise times to UTC."""
        for name in ("name", "vulnerability_id", "package_name"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise UsageError(f"a carry-over policy needs a non-empty {name}")
            object.__setattr__(self, name, value.strip())
        if self.family is not None and not self.family.strip():
            object.__setattr__(self, "family", None)
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise UsageError(f"policy priority must be an integer, not {self.priority!r}")
        try:
            object.__setattr__(self, "mode", PolicyMode(self.mode))
        except ValueError:
            raise UsageError(f"unknown policy mode {self.mode!r}: use apply or log_only") from None
        version = (self.component_version or "").strip() or None
        vers = (self.version_range or "").strip() or None
        object.__setattr__(self, "component_version", version)
        object.__setattr__(self, "version_range", vers)
        if (version is None) == (vers is None):
            raise UsageError(
                "a carry-over policy needs exactly one of component_version and version_range"
            )
        if vers is not None:
            object.__setattr__(self, "_range", VersRange.parse(vers, self.family))
        for name in ("valid_from", "valid_until", "created_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, ensure_utc(value))
        if (
            self.valid_from is not None
            and self.valid_until is not None
            and self.valid_until <= self.valid_from
        ):
            raise RuleViolationError("a policy's valid_until must be later than its valid_from")
        if self.decision.expires_at is not None:
            raise RuleViolationError(
                "a policy's decision cannot expire on its own",
                hint="set the policy's valid_until instead of the decision's expires_at",
            )

    @property
    def ordering(self) -> str:
        """The version ordering of the policy's ecosystem family."""
        return ordering_for_family(self.family)

    def in_force(self, now: datetime) -> bool:
        """Whether the policy is enabled and ``valid_from <= now < valid_until``."""
        now = ensure_utc(now)
        if not self.enabled:
            return False
        if self.valid_from is not None and now < self.valid_from:
            return False
        return self.valid_until is None or now < self.valid_until

    def covers(self, facts: FindingFacts) -> bool:
        """Whether the finding is this policy's vulnerability, package, version and product."""
        if self.vulnerability_id.casefold() not in facts.id_set:
            return False
        if self.family != facts.family:
            return False
        if _package(self.family, self.package_name) != _package(facts.family, facts.package_name):
            return False
        if self.product is not None and self.product != facts.product:
            return False
        if facts.version is None or not facts.version.strip():
            return False
        if self._range is not None:
            return self._range.contains(facts.version)
        return self._same_version(facts.version)

    def _same_version(self, version: str) -> bool:
        wanted = self.component_version or ""
        if version == wanted:
            return True
        try:
            return _equal(_parse(self.ordering, version), _parse(self.ordering, wanted))
        except MedwardenError:
            return False

    def selects(self, facts: FindingFacts, now: datetime) -> bool:
        """Whether the policy is in force at ``now`` and covers the finding."""
        return self.in_force(now) and self.covers(facts)

    @property
    def rank(self) -> tuple[int, datetime, int]:
        """Sort key of selection: priority, then newest (``created_at``, then ``pk``)."""
        return (self.priority, self.created_at or _EPOCH, -1 if self.pk is None else self.pk)


def _package(family: str | None, name: str) -> str:
    return name.casefold() if family is None else normalize_name(family, name)


@dataclass(frozen=True, slots=True)
class FindingFacts:
    """What carry-over needs to know of one finding.

    ``aliases`` are the finding's other ids (its CVE id, the records behind it);
    ``origin`` says who made its current decision and ``policy_pk`` which policy, when
    a policy did; ``logged_policy_pks`` are the log-only policies with an active record
    for it; ``kev_listed`` whether its CVE is in the KEV catalog."""

    pk: int
    vulnerability_id: str
    family: str | None
    package_name: str
    version: str | None
    product: str
    aliases: tuple[str, ...] = ()
    origin: DecisionOrigin = DecisionOrigin.NONE
    policy_pk: int | None = None
    logged_policy_pks: frozenset[int] = frozenset()
    kev_listed: bool = False

    @property
    def id_set(self) -> frozenset[str]:
        """The finding's ids, case-folded."""
        return frozenset(i.casefold() for i in (self.vulnerability_id, *self.aliases) if i)


def _best(policies: Iterable[CarryOverPolicy]) -> CarryOverPolicy | None:
    return max(policies, key=lambda p: p.rank, default=None)


def select_policy(
    facts: FindingFacts, policies: Iterable[CarryOverPolicy], now: datetime
) -> CarryOverPolicy | None:
    """The policy that decides ``facts`` at ``now``: highest priority, ties to the newest.

    Only enabled policies in force at ``now`` covering the finding count (see
    :meth:`CarryOverPolicy.selects`); modes are not looked at (the plan selects among
    ``apply`` and ``log_only`` policies separately)."""
    return _best(p for p in policies if p.selects(facts, now))


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """A policy to apply (or log) on a finding."""

    finding_pk: int
    policy: CarryOverPolicy


@dataclass(frozen=True, slots=True)
class PlannedRevert:
    """A policy whose decision (or log-only record) on a finding ends."""

    finding_pk: int
    policy_pk: int


@dataclass(frozen=True, slots=True)
class CarryOverPlan:
    """What a carry-over run does; reverts of a finding happen before its new application.

    ``kept_human`` are findings a policy selects that a person decided (left alone);
    ``refused`` are findings whose selected policy fails the decision rules for them."""

    apply: tuple[PlannedAction, ...] = ()
    log_only: tuple[PlannedAction, ...] = ()
    revert: tuple[PlannedRevert, ...] = ()
    unlog: tuple[PlannedRevert, ...] = ()
    kept_human: tuple[PlannedAction, ...] = ()
    refused: tuple[PlannedAction, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the plan changes nothing."""
        return not (self.apply or self.log_only or self.revert or self.unlog)


@dataclass(frozen=True, slots=True)
class CarryOverCounts:
    """What a carry-over run did.

    ``applied``: policy decisions written; ``logged``: log-only records written;
    ``reverted``: policy decisions reverted (a restoring decision written);
    ``unlogged``: log-only records ended; ``kept_human``: findings a policy selects but a
    person decided (left alone); ``refused``: findings whose selected policy fails the
    decision rules for them (a KEV finding without four-eyes approval)."""

    applied: int = 0
    logged: int = 0
    reverted: int = 0
    unlogged: int = 0
    kept_human: int = 0
    refused: int = 0

    def __add__(self, other: CarryOverCounts) -> CarryOverCounts:
        return CarryOverCounts(
            self.applied + other.applied,
            self.logged + other.logged,
            self.reverted + other.reverted,
            self.unlogged + other.unlogged,
            self.kept_human + other.kept_human,
            self.refused + other.refused,
        )

    @classmethod
    def of(cls, plan: CarryOverPlan) -> CarryOverCounts:
        """The counts of carrying out ``plan``."""
        return cls(
            applied=len(plan.apply),
            logged=len(plan.log_only),
            reverted=len(plan.revert),
            unlogged=len(plan.unlog),
            kept_human=len(plan.kept_human),
            refused=len(plan.refused),
        )


def _may_decide(policy: CarryOverPolicy, facts: FindingFacts, now: datetime) -> bool:
    """Whether the policy's decision passes the decision rules for this finding."""
    try:
        validate_decision(
            policy.decision,
            kev_listed=facts.kev_listed,
            actor=policy.created_by or POLICY_ENGINE,
            now=now,
        )
    except UsageError:
        return False
    return True


def _choose(
    facts: FindingFacts, policies: Sequence[CarryOverPolicy], now: datetime
) -> tuple[CarryOverPolicy | None, CarryOverPolicy | None]:
    """(the eligible winner, the refused top candidate when it is not the winner)."""
    candidates = [p for p in policies if p.selects(facts, now)]
    top = _best(candidates)
    winner = _best(p for p in candidates if _may_decide(p, facts, now))
    return winner, (top if top is not None and top is not winner else None)


def plan_carry_over(
    findings: Iterable[FindingFacts], policies: Sequence[CarryOverPolicy], now: datetime
) -> CarryOverPlan:
    """Plan what the policies do to ``findings`` at ``now``: apply, log, revert, unlog.

    Per finding: when a person made its current decision nothing is applied or reverted
    (its log-only records end); otherwise the winning ``apply`` policy (see
    :func:`select_policy`; policies whose decision fails the rules for the finding are
    passed over) replaces the deciding policy, if different (revert, then apply), and
    the winning ``log_only`` policy is recorded if it is not already.  Stored policies
    have a ``pk``; policies without one are applied but cannot be reverted."""
    now = ensure_utc(now)
    appliers = [p for p in policies if p.mode is PolicyMode.APPLY]
    loggers = [p for p in policies if p.mode is PolicyMode.LOG_ONLY]
    apply: list[PlannedAction] = []
    log_only: list[PlannedAction] = []
    revert: list[PlannedRevert] = []
    unlog: list[PlannedRevert] = []
    kept: list[PlannedAction] = []
    refused: list[PlannedAction] = []
    for facts in findings:
        winner, rejected = _choose(facts, appliers, now)
        if facts.origin is DecisionOrigin.HUMAN:
            if winner is not None:
                kept.append(PlannedAction(facts.pk, winner))
            unlog.extend(PlannedRevert(facts.pk, pk) for pk in sorted(facts.logged_policy_pks))
            continue
        if rejected is not None:
            refused.append(PlannedAction(facts.pk, rejected))
        current = facts.policy_pk if facts.origin is DecisionOrigin.POLICY else None
        if current is not None and (winner is None or winner.pk != current):
            revert.append(PlannedRevert(facts.pk, current))
        if winner is not None and (current is None or winner.pk != current):
            apply.append(PlannedAction(facts.pk, winner))
        shadow, _ = _choose(facts, loggers, now)
        unlog.extend(
            PlannedRevert(facts.pk, pk)
            for pk in sorted(facts.logged_policy_pks)
            if shadow is None or shadow.pk != pk
        )
        if shadow is not None and shadow.pk not in facts.logged_policy_pks:
            log_only.append(PlannedAction(facts.pk, shadow))
    return CarryOverPlan(
        apply=tuple(apply),
        log_only=tuple(log_only),
        revert=tuple(revert),
        unlog=tuple(unlog),
        kept_human=tuple(kept),
        refused=tuple(refused),
    )


@dataclass(frozen=True, slots=True)
class PolicyApplication:
    """A stored record of a policy deciding (or, log-only, being about to decide) a finding.

    ``decision_pk`` is the decision the policy wrote (None in log-only mode);
    ``reverted_at`` and ``revert_decision_pk`` say when it ended and by which decision
    (a revert, or a person's decision that took the finding over)."""

    pk: int
    policy_pk: int
    finding_pk: int
    mode: PolicyMode
    applied_at: datetime
    decision_pk: int | None = None
    reverted_at: datetime | None = None
    revert_decision_pk: int | None = None

    @property
    def active(self) -> bool:
        """Whether the application is still in force."""
        return self.reverted_at is None


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    """A stored policy and what carrying it out (in the same transaction) did."""

    policy: CarryOverPolicy
    counts: CarryOverCounts
