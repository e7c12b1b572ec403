"""Triage decisions and carry-over policies on portfolio findings, with their audit events.

Every change is one write transaction that also appends its audit event(s) through
:func:`~medwarden.store.audit_repository.append_event`, so a decision and its audit
record commit together or not at all; a refused decision stores nothing.

* :meth:`SqlTriage.decide` records a person's decision (rules:
  :func:`~medwarden.vex.triage.validate_decision`, with the finding's KEV listing read in
  the same transaction) and ends any policy application on the finding: **a person's
  decision is never overridden by a policy**.
* ``decision`` rows are never updated: :meth:`SqlTriage.history` returns every version.
* Policies are created, carried from a person's decision, or disabled; each of these
  carries itself out at once (same transaction) over the findings of its vulnerability.
  :meth:`SqlTriage.reconcile_policies` re-plans every open finding of every vulnerability
  that has a policy (validity windows end without anyone acting), and
  :func:`apply_policies` does the same for given findings inside another repository's
  transaction (portfolio re-evaluation, right after it inserted new findings).

Carry-over runs are set-based: the findings, their aliases, decision histories, active
applications and KEV listings are read with one statement per 500-key chunk, decisions
and applications written with ``executemany``; audit events are one per policy and kind
of change (``triage.policy_apply``/``triage.policy_revert``), listing the findings, so
the number of statements never depends on the number of findings.

Writers serialise: SQLite by its write lock (``BEGIN IMMEDIATE``), PostgreSQL by the
audit trail's transaction-level advisory lock taken first thing, so a person's decision
and a policy run never interleave (and never deadlock with the audit append).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, Row, Select, bindparam, insert, or_, select, text, update

from medwarden.audit.model import EventDraft
from medwarden.core.clock import ensure_utc
from medwarden.core.digests import canonical_json
from medwarden.errors import (
    ConflictError,
    MedwardenError,
    NotFoundError,
    RuleViolationError,
    UsageError,
)
from medwarden.store._batching import chunked, unique
from medwarden.store._writes import allocate_pks
from medwarden.store.audit_repository import _PG_AUDIT_LOCK, append_event
from medwarden.store.schema import kev
from medwarden.store.schema_portfolio import (
    component,
    component_match_id,
    decision,
    finding,
    policy,
    policy_application,
    product,
)
from medwarden.vex.carryover import (
    POLICY_ENGINE,
    CarryOverCounts,
    CarryOverPlan,
    CarryOverPolicy,
    FindingFacts,
    PolicyApplication,
    PolicyMode,
    PolicyOutcome,
    plan_carry_over,
)
from medwarden.vex.model import VexStatus
from medwarden.vex.triage import (
    DecisionOrigin,
    DecisionRecord,
    TriageDecision,
    validate_decision,
)

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["SqlTriage", "apply_policies"]

Values = dict[str, Any]
_LOG = logging.getLogger(__name__)
_DECISION_FIELDS = (
    "status",
    "justification",
    "responses_json",
    "detail",
    "impact_statement",
    "applicability",
    "verifiability",
    "related_threats",
    "assessment",
    "approver",
    "expires_at",
)
_UNDER_INVESTIGATION = "under_investigation"


# -- rows <-> domain ----------------------------------------------------------------------


def _lock(conn: Connection) -> None:
    """Serialise triage writers with each other and with audit appends (PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_AUDIT_LOCK})


def _decision_values(
    finding_pk: int,
    chosen: TriageDecision,
    *,
    actor: str,
    at: datetime,
    policy_pk: int | None = None,
    reverts_pk: int | None = None,
) -> Values:
    return {
        "finding_pk": finding_pk,
        "status": chosen.status.value,
        "justification": None if chosen.justification is None else chosen.justification.value,
        "responses_json": orjson.dumps([r.value for r in chosen.responses]).decode(),
        "detail": chosen.detail,
        "impact_statement": chosen.impact_statement,
        "applicability": chosen.applicability,
        "verifiability": chosen.verifiability,
        "related_threats": chosen.related_threats,
        "assessment": chosen.assessment,
        "approver": chosen.approver,
        "expires_at": chosen.expires_at,
        "actor": actor,
        "at": at,
        "policy_pk": policy_pk,
        "reverts_pk": reverts_pk,
    }


def _decision_of(row: Mapping[Any, Any]) -> TriageDecision:
    return TriageDecision(
        status=row["status"],
        justification=row["justification"],
        responses=tuple(orjson.loads(row["responses_json"] or "[]")),
        detail=row["detail"],
        impact_statement=row["impact_statement"],
        applicability=row["applicability"],
        verifiability=row["verifiability"],
        related_threats=row["related_threats"],
        assessment=row["assessment"],
        approver=row["approver"],
        expires_at=row["expires_at"],
    )


def _record_of(row: Mapping[Any, Any]) -> DecisionRecord:
    return DecisionRecord(
        pk=int(row["pk"]),
        finding_pk=int(row["finding_pk"]),
        decision=_decision_of(row),
        actor=row["actor"],
        at=ensure_utc(row["at"]),
        policy_pk=row["policy_pk"],
        reverts_pk=row["reverts_pk"],
    )


def _policy_columns() -> Select[Any]:
    return select(policy, product.c.slug.label("product_slug")).outerjoin(
        product, product.c.pk == policy.c.product_pk
    )


def _policy_of(row: Mapping[Any, Any]) -> CarryOverPolicy:
    return CarryOverPolicy(
        name=row["name"],
        vulnerability_id=row["vulnerability_id"],
        family=row["family"],
        package_name=row["package_name"],
        decision=TriageDecision.from_dict(orjson.loads(row["decision_json"])),
        component_version=row["component_version"],
        version_range=row["version_range"],
        product=row["product_slug"],
        priority=int(row["priority"]),
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        mode=PolicyMode(row["mode"]),
        enabled=bool(row["enabled"]),
        pk=int(row["pk"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
    )


def _policy_audit(stored: CarryOverPolicy) -> Values:
    return {
        "name": stored.name,
        "vulnerability_id": stored.vulnerability_id,
        "family": stored.family,
        "package_name": stored.package_name,
        "component_version": stored.component_version,
        "version_range": stored.version_range,
        "product": stored.product,
        "priority": stored.priority,
        "valid_from": None if stored.valid_from is None else stored.valid_from.isoformat(),
        "valid_until": None if stored.valid_until is None else stored.valid_until.isoformat(),
        "mode": stored.mode.value,
        "enabled": stored.enabled,
        "decision": stored.decision.as_dict(),
    }


def _application_of(row: Mapping[Any, Any]) -> PolicyApplication:
    return PolicyApplication(
        pk=int(row["pk"]),
        policy_pk=int(row["policy_pk"]),
        finding_pk=int(row["finding_pk"]),
        mode=PolicyMode(row["mode"]),
        applied_at=ensure_utc(row["applied_at"]),
        decision_pk=row["decision_pk"],
        reverted_at=None if row["reverted_at"] is None else ensure_utc(row["reverted_at"]),
        revert_decision_pk=row["revert_decision_pk"],
    )


def _id_variants(ids: Iterable[str]) -> list[str]:
    """The spellings an id may be stored under, for index-friendly case-insensitive lookups.

    ``CVE-...``/``GO-...`` are upper case, ``GHSA-xxxx-...`` has an upper-case prefix and a
    lower-case rest; the given spelling is kept too.  Exact case-insensitive comparison
    happens afterwards in Python."""
    out: list[str] = []
    for raw in ids:
        value = raw.strip()
        prefix, dash, rest = value.partition("-")
        out.extend((value, value.upper(), value.lower(), prefix.upper() + dash + rest.lower()))
    return unique(out)


def _cve_ids(vulnerability_id: str, cve_id: str | None) -> set[str]:
    ids = {cve_id.upper()} if cve_id else set()
    if vulnerability_id.upper().startswith("CVE-"):
        ids.add(vulnerability_id.upper())
    return ids


def _kev_listed(conn: Connection, cve_ids: Iterable[str]) -> set[str]:
    """Those of ``cve_ids`` (upper case) that are in the KEV catalog; one SELECT per chunk."""
    found: set[str] = set()
    for chunk in chunked(unique(cve_ids)):
        found.update(conn.execute(select(kev.c.cve_id).where(kev.c.cve_id.in_(chunk))).scalars())
    return {i.upper() for i in found}


def _insert_decisions(conn: Connection, rows: list[Values]) -> list[int]:
    """Insert decision rows in order (keys increase with it); return their keys."""
    pks = allocate_pks(conn, decision, len(rows)) if rows else []
    if rows:
        conn.execute(
            insert(decision), [{"pk": pk, **row} for pk, row in zip(pks, rows, strict=True)]
        )
    return pks


def _point_findings(conn: Connection, changes: list[Values]) -> None:
    """Point findings at new current decisions: ``b_pk``, ``decision_pk``, ``status``, time."""
    if changes:
        conn.execute(update(finding).where(finding.c.pk == bindparam("b_pk")), changes)


# -- loading what carry-over needs ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Loaded:
    """Findings as carry-over sees them, with what executing a plan needs besides."""

    facts: list[FindingFacts]
    histories: dict[int, list[Values]]
    current: dict[int, int | None]


def _finding_query() -> Select[Any]:
    return (
        select(
            finding.c.pk,
            finding.c.vulnerability_id,
            finding.c.cve_id,
            finding.c.component_pk,
            finding.c.decision_pk,
            finding.c.status,
            component.c.family,
            component.c.package_name,
            component.c.name.label("component_name"),
            component.c.version,
            product.c.slug,
        )
        .join(component, component.c.pk == finding.c.component_pk)
        .join(product, product.c.pk == finding.c.product_pk)
    )


def _rows_by_pks(conn: Connection, pks: Iterable[int]) -> list[Row[Any]]:
    rows: list[Row[Any]] = []
    for chunk in chunked(unique(pks)):
        query = _finding_query().where(finding.c.pk.in_(chunk), finding.c.state == "open")
        rows.extend(conn.execute(query))
    return rows


def _rows_by_vulnerabilities(
    conn: Connection, ids: Sequence[str], applied_by: Sequence[int] | None
) -> list[Row[Any]]:
    """Open findings of ``ids`` (as id, CVE id or alias), plus findings policies decided.

    ``applied_by`` limits the latter to applications of those policies (None: any)."""
    variants = _id_variants(ids)
    through_alias: list[str] = []
    for chunk in chunked(variants):
        through_alias.extend(
            conn.execute(
                select(component_match_id.c.vulnerability_id)
                .where(component_match_id.c.record_id.in_(chunk))
                .distinct()
            ).scalars()
        )
    keys = unique([*variants, *through_alias])
    open_ = finding.c.state == "open"
    found: dict[int, Row[Any]] = {}
    for chunk in chunked(keys):
        query = _finding_query().where(
            open_, or_(finding.c.vulnerability_id.in_(chunk), finding.c.cve_id.in_(chunk))
        )
        found.update((row.pk, row) for row in conn.execute(query))
    active = select(policy_application.c.finding_pk).where(
        policy_application.c.reverted_at.is_(None)
    )
    if applied_by is not None:
        if not applied_by:
            return list(found.values())
        active = active.where(policy_application.c.policy_pk.in_(list(applied_by)))
    query = _finding_query().where(open_, finding.c.pk.in_(active))
    found.update((row.pk, row) for row in conn.execute(query))
    return list(found.values())


def _aliases(conn: Connection, rows: Sequence[Row[Any]]) -> dict[tuple[int, str], list[str]]:
    """The record ids behind each (component, vulnerability) of ``rows``; chunked by id."""
    wanted = {(row.component_pk, row.vulnerability_id) for row in rows}
    found: dict[tuple[int, str], list[str]] = defaultdict(list)
    cols = (
        component_match_id.c.component_pk,
        component_match_id.c.vulnerability_id,
        component_match_id.c.record_id,
    )
    for chunk in chunked(unique(vuln for _pk, vuln in wanted)):
        query = select(*cols).where(component_match_id.c.vulnerability_id.in_(chunk))
        for component_pk, vulnerability_id, record_id in conn.execute(query):
            if (component_pk, vulnerability_id) in wanted:
                found[(component_pk, vulnerability_id)].append(record_id)
    return found


def _histories(conn: Connection, finding_pks: Iterable[int]) -> dict[int, list[Values]]:
    """Every decision of each finding, oldest first; one SELECT per chunk."""
    found: dict[int, list[Values]] = defaultdict(list)
    for chunk in chunked(unique(finding_pks)):
        query = select(decision).where(decision.c.finding_pk.in_(chunk)).order_by(decision.c.pk)
        for row in conn.execute(query).mappings():
            found[int(row["finding_pk"])].append(dict(row))
    return found


def _logged(conn: Connection, finding_pks: Iterable[int]) -> dict[int, set[int]]:
    """The log-only policies with an active record per finding; one SELECT per chunk."""
    found: dict[int, set[int]] = defaultdict(set)
    cols = (policy_application.c.finding_pk, policy_application.c.policy_pk)
    for chunk in chunked(unique(finding_pks)):
        query = select(*cols).where(
            policy_application.c.finding_pk.in_(chunk),
            policy_application.c.reverted_at.is_(None),
            policy_application.c.mode == PolicyMode.LOG_ONLY.value,
        )
        for finding_pk, policy_pk in conn.execute(query):
            found[int(finding_pk)].add(int(policy_pk))
    return found


def _restore_target(history: Sequence[Values], reverted_pk: int) -> Values | None:
    """The decision a revert of ``reverted_pk`` restores: the last one before it that no
    policy made (None: there was none, the finding goes back to under_investigation)."""
    target = None
    for row in history:
        if row["pk"] >= reverted_pk:
            break
        if row["policy_pk"] is None:
            target = row
    return target


def _origin(history: Sequence[Values], current: int | None) -> tuple[DecisionOrigin, int | None]:
    """Who made the current decision (and which policy): a revert counts as the decision it
    restored.  A decision that cannot be traced counts as a person's (never overridden)."""
    by_pk = {int(row["pk"]): row for row in history}
    seen: set[int] = set()
    pk = current
    while pk is not None:
        row = by_pk.get(pk)
        if row is None or pk in seen:
            return DecisionOrigin.HUMAN, None
        seen.add(pk)
        if row["policy_pk"] is not None:
            return DecisionOrigin.POLICY, int(row["policy_pk"])
        if row["reverts_pk"] is None:
            return DecisionOrigin.HUMAN, None
        target = _restore_target(history, int(row["reverts_pk"]))
        pk = None if target is None else int(target["pk"])
    return DecisionOrigin.NONE, None


def _load(conn: Connection, rows: Sequence[Row[Any]]) -> _Loaded:
    """Build the facts of ``rows``: aliases, origins, log-only records and KEV listings."""
    aliases = _aliases(conn, rows)
    histories = _histories(conn, [row.pk for row in rows if row.decision_pk is not None])
    logged = _logged(conn, [row.pk for row in rows])
    cves = {
        row.pk: _cve_ids(row.vulnerability_id, row.cve_id)
        | {
            alias.upper()
            for alias in aliases.get((row.component_pk, row.vulnerability_id), ())
            if alias.upper().startswith("CVE-")
        }
        for row in rows
    }
    listed = _kev_listed(conn, (c for ids in cves.values() for c in ids))
    facts: list[FindingFacts] = []
    for row in rows:
        origin, policy_pk = _origin(histories.get(row.pk, []), row.decision_pk)
        extra = aliases.get((row.component_pk, row.vulnerability_id), [])
        facts.append(
            FindingFacts(
                pk=int(row.pk),
                vulnerability_id=row.vulnerability_id,
                family=row.family,
                package_name=row.package_name or row.component_name,
                version=row.version,
                product=row.slug,
                aliases=tuple(unique(i for i in (row.cve_id, *extra) if i)),
                origin=origin,
                policy_pk=policy_pk,
                logged_policy_pks=frozenset(logged.get(row.pk, ())),
                kev_listed=bool(cves[row.pk] & listed),
            )
        )
    return _Loaded(
        facts=facts,
        histories=histories,
        current={int(row.pk): row.decision_pk for row in rows},
    )


def _all_policies(conn: Connection, query: Select[Any] | None = None) -> list[CarryOverPolicy]:
    """Every stored policy (of ``query``); one that can no longer be read (a range a newer
    univers refuses) is left out with a warning, so it cannot break the transaction of an
    import: the decisions it made are then reverted, audited like any other revert."""
    policies: list[CarryOverPolicy] = []
    for row in conn.execute(_policy_columns() if query is None else query).mappings():
        try:
            policies.append(_policy_of(row))
        except MedwardenError as exc:
            _LOG.warning("carry-over policy %s cannot be read and is ignored: %s", row["pk"], exc)
    return policies


# -- carrying out a plan --------------------------------------------------------------------


def _execute(
    conn: Connection,
    plan: CarryOverPlan,
    loaded: _Loaded,
    *,
    now: datetime,
    actor: str,
    names: Mapping[int, str],
) -> CarryOverCounts:
    """Write what ``plan`` says: reverts first, then applications, log records, audit events."""
    reverts = _revert(conn, plan, loaded, now=now, actor=actor)
    applies = _apply(conn, plan, now=now, actor=actor)
    _log(conn, plan, now=now)
    _audit_run(conn, plan, reverts, applies, now=now, actor=actor, names=names)
    return CarryOverCounts.of(plan)


def _revert(
    conn: Connection, plan: CarryOverPlan, loaded: _Loaded, *, now: datetime, actor: str
) -> dict[int, list[tuple[int, int, int]]]:
    """Restore the decision before each reverted policy decision; end the applications.

    Returns, per policy, (finding, reverted decision, restoring decision) triples."""
    rows: list[Values] = []
    triples: list[tuple[int, int, int]] = []
    for item in plan.revert:
        reverted = loaded.current[item.finding_pk]
        if reverted is None:  # cannot happen: a policy-decided finding has a decision
            continue
        target = _restore_target(loaded.histories.get(item.finding_pk, []), reverted)
        values = dict.fromkeys(_DECISION_FIELDS) | {"responses_json": "[]"}
        values["status"] = _UNDER_INVESTIGATION
        if target is not None:
            values.update({name: target[name] for name in _DECISION_FIELDS})
        rows.append(
            values
            | {
                "finding_pk": item.finding_pk,
                "actor": actor,
                "at": now,
                "policy_pk": None,
                "reverts_pk": reverted,
            }
        )
        triples.append((item.policy_pk, item.finding_pk, reverted))
    pks = _insert_decisions(conn, rows)
    _point_findings(
        conn,
        [
            {
                "b_pk": row["finding_pk"],
                "decision_pk": pk,
                "status": row["status"],
                "changed_at": now,
            }
            for pk, row in zip(pks, rows, strict=True)
        ],
    )
    ended = [
        {
            "b_policy": policy_pk,
            "b_finding": finding_pk,
            "reverted_at": now,
            "revert_decision_pk": pk,
        }
        for (policy_pk, finding_pk, _old), pk in zip(triples, pks, strict=True)
    ]
    _end_applications(conn, ended, PolicyMode.APPLY)
    by_policy: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for (policy_pk, finding_pk, old), pk in zip(triples, pks, strict=True):
        by_policy[policy_pk].append((finding_pk, old, pk))
    return by_policy


def _end_applications(conn: Connection, ended: list[Values], mode: PolicyMode) -> None:
    if not ended:
        return
    stmt = update(policy_application).where(
        policy_application.c.policy_pk == bindparam("b_policy"),
        policy_application.c.finding_pk == bindparam("b_finding"),
        policy_application.c.reverted_at.is_(None),
        policy_application.c.mode == mode.value,
    )
    conn.execute(stmt, ended)


def _apply(
    conn: Connection, plan: CarryOverPlan, *, now: datetime, actor: str
) -> dict[int, list[tuple[int, int]]]:
    """Write each applied policy's decision; return per policy (finding, decision) pairs."""
    rows = [
        _decision_values(
            item.finding_pk, item.policy.decision, actor=actor, at=now, policy_pk=item.policy.pk
        )
        for item in plan.apply
    ]
    pks = _insert_decisions(conn, rows)
    _point_findings(
        conn,
        [
            {
                "b_pk": row["finding_pk"],
                "decision_pk": pk,
                "status": row["status"],
                "changed_at": now,
            }
            for pk, row in zip(pks, rows, strict=True)
        ],
    )
    applications = [
        {
            "policy_pk": item.policy.pk,
            "finding_pk": item.finding_pk,
            "decision_pk": pk,
            "mode": PolicyMode.APPLY.value,
            "applied_at": now,
        }
        for item, pk in zip(plan.apply, pks, strict=True)
    ]
    if applications:
        conn.execute(insert(policy_application), applications)
    by_policy: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for item, pk in zip(plan.apply, pks, strict=True):
        by_policy[int(item.policy.pk or 0)].append((item.finding_pk, pk))
    return by_policy


def _log(conn: Connection, plan: CarryOverPlan, *, now: datetime) -> None:
    """Record log-only applications and end those no longer selected (no decision written)."""
    records = [
        {
            "policy_pk": item.policy.pk,
            "finding_pk": item.finding_pk,
            "decision_pk": None,
            "mode": PolicyMode.LOG_ONLY.value,
            "applied_at": now,
        }
        for item in plan.log_only
    ]
    if records:
        conn.execute(insert(policy_application), records)
    ended = [
        {
            "b_policy": item.policy_pk,
            "b_finding": item.finding_pk,
            "reverted_at": now,
            "revert_decision_pk": None,
        }
        for item in plan.unlog
    ]
    _end_applications(conn, ended, PolicyMode.LOG_ONLY)


def _audit_run(
    conn: Connection,
    plan: CarryOverPlan,
    reverts: Mapping[int, list[tuple[int, int, int]]],
    applies: Mapping[int, list[tuple[int, int]]],
    *,
    now: datetime,
    actor: str,
    names: Mapping[int, str],
) -> None:
    """One audit event per policy and kind of change, listing the findings concerned."""
    logged: dict[int, list[int]] = defaultdict(list)
    for item in plan.log_only:
        logged[int(item.policy.pk or 0)].append(item.finding_pk)
    unlogged: dict[int, list[int]] = defaultdict(list)
    for end in plan.unlog:
        unlogged[end.policy_pk].append(end.finding_pk)
    decisions = {int(i.policy.pk or 0): i.policy.decision for i in plan.apply}

    def event(action: str, policy_pk: int, after: Values) -> None:
        name = names.get(policy_pk, f"policy {policy_pk}")
        draft = EventDraft(
            at=now,
            actor=actor,
            action=action,
            subject_type="policy",
            subject_id=str(policy_pk),
            after={"policy": name, **after},
            reason=f"carry-over policy {name!r}",
        )
        append_event(conn, draft)

    for policy_pk, items in sorted(reverts.items()):
        event(
            "triage.policy_revert",
            policy_pk,
            {
                "mode": PolicyMode.APPLY.value,
                "findings": [f for f, _old, _new in items],
                "reverted_decisions": [old for _f, old, _new in items],
                "decisions": [new for _f, _old, new in items],
            },
        )
    for policy_pk, findings in sorted(unlogged.items()):
        event(
            "triage.policy_revert",
            policy_pk,
            {"mode": PolicyMode.LOG_ONLY.value, "findings": findings},
        )
    for policy_pk, pairs in sorted(applies.items()):
        event(
            "triage.policy_apply",
            policy_pk,
            {
                "mode": PolicyMode.APPLY.value,
                "findings": [f for f, _d in pairs],
                "decisions": [d for _f, d in pairs],
                "decision": decisions[policy_pk].as_dict(),
            },
        )
    for policy_pk, findings in sorted(logged.items()):
        event(
            "triage.policy_apply",
            policy_pk,
            {"mode": PolicyMode.LOG_ONLY.value, "findings": findings},
        )


def _carry_out(
    conn: Connection,
    rows: Sequence[Row[Any]],
    policies: Sequence[CarryOverPolicy],
    *,
    now: datetime,
    actor: str,
) -> CarryOverCounts:
    if not rows:
        return CarryOverCounts()
    loaded = _load(conn, rows)
    plan = plan_carry_over(loaded.facts, policies, now)
    names = {int(p.pk): p.name for p in policies if p.pk is not None}
    return _execute(conn, plan, loaded, now=now, actor=actor, names=names)


def _reconcile_vulnerabilities(
    conn: Connection,
    ids: Sequence[str],
    *,
    now: datetime,
    actor: str,
    applied_by: Sequence[int] | None,
) -> CarryOverCounts:
    policies = _all_policies(conn)
    rows = _rows_by_vulnerabilities(conn, ids, applied_by)
    return _carry_out(conn, rows, policies, now=now, actor=actor)


def apply_policies(conn: Connection, finding_pks: Sequence[int], now: datetime) -> CarryOverCounts:
    """Carry the stored policies over ``finding_pks``, inside the caller's write transaction.

    Meant for the repository that has just inserted (or re-opened) findings: call it in
    the same transaction, after the inserts, so new findings of a vulnerability a policy
    covers never appear undecided.  Only open findings among ``finding_pks`` are looked
    at.  Findings a person decided are left alone; findings a policy decided are
    re-planned (reverted when no policy selects them any more).  Decisions are written
    by :data:`~medwarden.vex.carryover.POLICY_ENGINE`, with one ``triage.policy_apply``
    (``triage.policy_revert``) audit event per policy listing the findings.

    The number of statements does not depend on ``len(finding_pks)``: one per 500-key
    chunk for each lookup, a fixed number of ``executemany`` writes, and the audit
    events; with no policy stored it is one (two on PostgreSQL).  On PostgreSQL it first
    takes the audit trail's transaction-level advisory lock (held to commit), which
    :func:`~medwarden.store.audit_repository.append_event` would take anyway; so a
    policy created concurrently is either seen here or sees these findings.  Take any
    other advisory lock the transaction needs *before* calling this.
    """
    now = ensure_utc(now)
    if not finding_pks:
        return CarryOverCounts()
    _lock(conn)
    policies = _all_policies(conn)
    if not policies:
        return CarryOverCounts()
    rows = _rows_by_pks(conn, finding_pks)
    return _carry_out(conn, rows, policies, now=now, actor=POLICY_ENGINE)


# -- the repository -------------------------------------------------------------------------


class SqlTriage:
    """Triage decisions and carry-over policies stored in the portfolio tables."""

    def __init__(self, database: Database) -> None:
        self._database = database

    # decisions

    def decide(
        self,
        finding_pk: int,
        chosen: TriageDecision,
        *,
        actor: str,
        now: datetime,
        reason: str | None = None,
    ) -> DecisionRecord:
        """Record ``actor``'s decision on a finding; raise if a rule refuses it.

        Reads the finding and whether its CVE is KEV-listed, checks
        :func:`~medwarden.vex.triage.validate_decision`, inserts the decision, points the
        finding at it (status, ``changed_at``), ends any policy application on the
        finding (a person's decision is never overridden by a policy afterwards) and
        appends a ``triage.decide`` audit event with the previous and new decision, all in
        one transaction.  A refused decision stores nothing.
        """
        now = ensure_utc(now)
        with self._database.write("recording a triage decision") as conn:
            _lock(conn)
            row = conn.execute(
                select(
                    finding.c.pk,
                    finding.c.status,
                    finding.c.decision_pk,
                    finding.c.vulnerability_id,
                    finding.c.cve_id,
                ).where(finding.c.pk == finding_pk)
            ).first()
            if row is None:
                raise NotFoundError(f"there is no finding {finding_pk}")
            listed = bool(_kev_listed(conn, _cve_ids(row.vulnerability_id, row.cve_id)))
            validate_decision(chosen, kev_listed=listed, actor=actor, now=now)
            before: Values = {"decision_pk": row.decision_pk, "status": row.status}
            if row.decision_pk is not None:
                previous = (
                    conn.execute(select(decision).where(decision.c.pk == row.decision_pk))
                    .mappings()
                    .first()
                )
                if previous is not None:
                    before |= _decision_of(previous).as_dict() | {
                        "actor": previous["actor"],
                        "policy_pk": previous["policy_pk"],
                    }
            values = _decision_values(finding_pk, chosen, actor=actor.strip(), at=now)
            (pk,) = _insert_decisions(conn, [values])
            _point_findings(
                conn,
                [
                    {
                        "b_pk": finding_pk,
                        "decision_pk": pk,
                        "status": values["status"],
                        "changed_at": now,
                    }
                ],
            )
            conn.execute(
                update(policy_application)
                .where(
                    policy_application.c.finding_pk == finding_pk,
                    policy_application.c.reverted_at.is_(None),
                )
                .values(reverted_at=now, revert_decision_pk=pk)
            )
            append_event(
                conn,
                EventDraft(
                    at=now,
                    actor=actor.strip(),
                    action="triage.decide",
                    subject_type="finding",
                    subject_id=str(finding_pk),
                    before=before,
                    after={"decision_pk": pk, **chosen.as_dict()},
                    reason=reason,
                ),
            )
            return _record_of({"pk": pk, **values})

    def history(self, finding_pk: int) -> list[DecisionRecord]:
        """Every decision ever recorded on the finding, oldest first (none is ever changed)."""
        with self._database.read("reading the decision history") as conn:
            exists = conn.execute(select(finding.c.pk).where(finding.c.pk == finding_pk)).first()
            if exists is None:
                raise NotFoundError(f"there is no finding {finding_pk}")
            query = (
                select(decision).where(decision.c.finding_pk == finding_pk).order_by(decision.c.pk)
            )
            return [_record_of(row) for row in conn.execute(query).mappings()]

    # policies

    def create_policy(
        self,
        new: CarryOverPolicy,
        *,
        actor: str,
        now: datetime,
        reason: str | None = None,
    ) -> PolicyOutcome:
        """Store a policy authored by ``actor`` and carry it out at once (one transaction).

        The decision is checked with :func:`~medwarden.vex.triage.validate_decision` (KEV
        listing of the policy's vulnerability id, ``actor`` as the decider); an unknown
        product slug raises :class:`~medwarden.errors.NotFoundError`.  Audited as
        ``triage.policy_create``, then the run's ``triage.policy_apply`` events."""
        now = ensure_utc(now)
        with self._database.write("creating a carry-over policy") as conn:
            _lock(conn)
            return _create(conn, new, actor=actor, now=now, reason=reason)

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
        """Make a policy of a person's decision and carry it out (one transaction).

        The policy covers the decided finding's vulnerability and package, and either its
        component version (``scope='version'``) or ``version_range`` (``scope='range'``),
        within the finding's product unless ``all_products``.  The decision's
        ``expires_at`` becomes the policy's ``valid_until`` unless one is given.  Decisions
        made or restored by the policy engine, and ``under_investigation`` decisions,
        cannot be carried (:class:`~medwarden.errors.RuleViolationError`)."""
        now = ensure_utc(now)
        if scope not in ("version", "range"):
            raise UsageError(f"unknown carry-over scope {scope!r}: use version or range")
        if (scope == "range") != (version_range is not None):
            raise UsageError("give a version range exactly when the scope is 'range'")
        with self._database.write("carrying a decision over") as conn:
            _lock(conn)
            row = (
                conn.execute(
                    select(
                        decision,
                        finding.c.vulnerability_id,
                        component.c.family,
                        component.c.package_name,
                        component.c.name.label("component_name"),
                        component.c.version,
                        product.c.slug,
                    )
                    .join(finding, finding.c.pk == decision.c.finding_pk)
                    .join(component, component.c.pk == finding.c.component_pk)
                    .join(product, product.c.pk == finding.c.product_pk)
                    .where(decision.c.pk == decision_pk)
                )
                .mappings()
                .first()
            )
            if row is None:
                raise NotFoundError(f"there is no decision {decision_pk}")
            if row["policy_pk"] is not None or row["reverts_pk"] is not None:
                raise RuleViolationError(
                    f"decision {decision_pk} was made by the policy engine; only a person's "
                    "decision can be carried over"
                )
            source = _decision_of(row)
            if source.status.value == _UNDER_INVESTIGATION:
                raise RuleViolationError(
                    f"decision {decision_pk} is under_investigation: there is nothing to carry"
                )
            if scope == "version" and not row["version"]:
                raise RuleViolationError(
                    f"the component of decision {decision_pk} has no version to carry to",
                    hint="carry it with a version range instead",
                )
            package = row["package_name"] or row["component_name"]
            where = row["version"] if scope == "version" else version_range
            new = CarryOverPolicy(
                name=name or f"{row['vulnerability_id']} on {package} {where}",
                vulnerability_id=row["vulnerability_id"],
                family=row["family"],
                package_name=package,
                decision=replace(source, expires_at=None),
                component_version=row["version"] if scope == "version" else None,
                version_range=version_range,
                product=None if all_products else row["slug"],
                priority=priority,
                valid_until=valid_until if valid_until is not None else source.expires_at,
                mode=PolicyMode(mode),
            )
            why = reason or f"carried over from decision {decision_pk}"
            return _create(conn, new, actor=actor, now=now, reason=why)

    def disable_policy(
        self, policy_pk: int, *, actor: str, now: datetime, reason: str | None = None
    ) -> PolicyOutcome:
        """Disable a policy and revert the decisions it made (one transaction).

        Findings it decided get the decision before the policy's back (or the next
        policy's, if another one selects them).  Audited as ``triage.policy_disable``
        then ``triage.policy_revert``.  Disabling a disabled policy is a
        :class:`~medwarden.errors.ConflictError`."""
        now = ensure_utc(now)
        with self._database.write("disabling a carry-over policy") as conn:
            _lock(conn)
            row = conn.execute(_policy_columns().where(policy.c.pk == policy_pk)).mappings().first()
            if row is None:
                raise NotFoundError(f"there is no policy {policy_pk}")
            if not row["enabled"]:
                raise ConflictError(f"policy {policy_pk} is already disabled")
            conn.execute(update(policy).where(policy.c.pk == policy_pk).values(enabled=False))
            stored = replace(_policy_of(row), enabled=False)
            append_event(
                conn,
                EventDraft(
                    at=now,
                    actor=actor,
                    action="triage.policy_disable",
                    subject_type="policy",
                    subject_id=str(policy_pk),
                    before={"enabled": True},
                    after={"enabled": False, "policy": stored.name},
                    reason=reason,
                ),
            )
            counts = _reconcile_vulnerabilities(
                conn, [stored.vulnerability_id], now=now, actor=actor, applied_by=[policy_pk]
            )
            return PolicyOutcome(stored, counts)

    def list_policies(self, *, include_disabled: bool = True) -> list[CarryOverPolicy]:
        """Every stored policy, oldest first (enabled ones only unless ``include_disabled``)."""
        query = _policy_columns().order_by(policy.c.pk)
        if not include_disabled:
            query = query.where(policy.c.enabled.is_(True))
        with self._database.read("listing carry-over policies") as conn:
            return _all_policies(conn, query)

    def applications(
        self, *, policy_pk: int | None = None, finding_pk: int | None = None
    ) -> list[PolicyApplication]:
        """The applications of a policy and/or on a finding, oldest first."""
        query = select(policy_application).order_by(policy_application.c.pk)
        if policy_pk is not None:
            query = query.where(policy_application.c.policy_pk == policy_pk)
        if finding_pk is not None:
            query = query.where(policy_application.c.finding_pk == finding_pk)
        with self._database.read("reading policy applications") as conn:
            return [_application_of(row) for row in conn.execute(query).mappings()]

    def expire_decisions(self, now: datetime, actor: str = POLICY_ENGINE) -> list[int]:
        """Return findings whose current decision has expired to ``under_investigation``.

        Each gets a new decision (reverting the expired one) and the findings are listed in
        one ``triage.decision_expire`` audit event; returns their keys.  Set-based: one
        query finds them, one insert and one update per batch write the change."""
        now = ensure_utc(now)
        with self._database.write("expiring triage decisions") as conn:
            _lock(conn)
            expired = conn.execute(
                select(finding.c.pk, decision.c.pk, decision.c.expires_at)
                .join(decision, decision.c.pk == finding.c.decision_pk)
                .where(
                    decision.c.expires_at.is_not(None),
                    decision.c.expires_at <= now,
                    finding.c.status != VexStatus.UNDER_INVESTIGATION.value,
                )
                .order_by(finding.c.pk)
            ).all()
            if not expired:
                return []
            reopened = TriageDecision(
                status=VexStatus.UNDER_INVESTIGATION,
                detail="the previous decision expired; triage it again",
            )
            rows = [
                _decision_values(f_pk, reopened, actor=actor, at=now, reverts_pk=d_pk)
                for f_pk, d_pk, _when in expired
            ]
            pks = _insert_decisions(conn, rows)
            _point_findings(
                conn,
                [
                    {
                        "b_pk": f_pk,
                        "decision_pk": pk,
                        "status": VexStatus.UNDER_INVESTIGATION.value,
                        "changed_at": now,
                    }
                    for (f_pk, _d, _w), pk in zip(expired, pks, strict=True)
                ],
            )
            findings = [f_pk for f_pk, _d, _w in expired]
            append_event(
                conn,
                EventDraft(
                    at=now,
                    actor=actor,
                    action="triage.decision_expire",
                    subject_type="finding",
                    subject_id=",".join(str(f) for f in findings[:50])
                    + (f" and {len(findings) - 50} more" if len(findings) > 50 else ""),
                    after={"findings": findings, "expired_decisions": [d for _f, d, _w in expired]},
                ),
            )
            return findings

    def reconcile_policies(self, now: datetime, actor: str = POLICY_ENGINE) -> CarryOverCounts:
        """Re-plan every open finding of every vulnerability that has a policy; one transaction.

        Applies policies that now select findings, reverts decisions of policies that no
        longer do (disabled, outside their validity at ``now``, outranked), records and
        ends log-only records.  Set-based: one statement per 500-key chunk per lookup."""
        now = ensure_utc(now)
        with self._database.write("carrying policies over") as conn:
            _lock(conn)
            policies = _all_policies(conn)
            active = set(
                conn.execute(
                    select(policy_application.c.policy_pk)
                    .where(policy_application.c.reverted_at.is_(None))
                    .distinct()
                ).scalars()
            )
            ids = unique(p.vulnerability_id for p in policies if p.enabled or p.pk in active)
            if not ids and not active:
                return CarryOverCounts()
            rows = _rows_by_vulnerabilities(conn, ids, None)
            return _carry_out(conn, rows, policies, now=now, actor=actor)


def _create(
    conn: Connection, new: CarryOverPolicy, *, actor: str, now: datetime, reason: str | None
) -> PolicyOutcome:
    """Insert ``new`` (authored by ``actor``), audit it, carry it out; inside ``conn``."""
    actor = actor.strip()
    product_pk = None
    if new.product is not None:
        product_pk = conn.execute(
            select(product.c.pk).where(product.c.slug == new.product)
        ).scalar_one_or_none()
        if product_pk is None:
            raise NotFoundError(f"there is no product {new.product!r}")
    listed = bool(_kev_listed(conn, _cve_ids(new.vulnerability_id, None)))
    validate_decision(new.decision, kev_listed=listed, actor=actor, now=now)
    values = {
        "name": new.name,
        "product_pk": product_pk,
        "vulnerability_id": new.vulnerability_id,
        "family": new.family,
        "package_name": new.package_name,
        "component_version": new.component_version,
        "version_range": new.version_range,
        "decision_json": canonical_json(new.decision.as_dict()).decode(),
        "priority": new.priority,
        "valid_from": new.valid_from,
        "valid_until": new.valid_until,
        "mode": new.mode.value,
        "enabled": new.enabled,
        "created_by": actor,
        "created_at": now,
    }
    pk = int(conn.execute(insert(policy).values(values).returning(policy.c.pk)).scalar_one())
    stored = replace(new, pk=pk, created_at=now, created_by=actor)
    append_event(
        conn,
        EventDraft(
            at=now,
            actor=actor,
            action="triage.policy_create",
            subject_type="policy",
            subject_id=str(pk),
            after=_policy_audit(stored),
            reason=reason,
        ),
    )
    if not stored.enabled:
        return PolicyOutcome(stored, CarryOverCounts())
    counts = _reconcile_vulnerabilities(
        conn, [stored.vulnerability_id], now=now, actor=actor, applied_by=[]
    )
    return PolicyOutcome(stored, counts)
