"""The carry-over engine: load what policies need about findings (set-based), plan with
:func:`medwarden.vex.carryover.plan_carry_over`, then write the decisions, applications,
reverts and their audit events inside the caller's transaction."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, Select, bindparam, insert, or_, select, update

from medwarden.audit.model import EventDraft
from medwarden.core.clock import ensure_utc
from medwarden.errors import (
    MedwardenError,
)
from medwarden.store._batching import chunked, unique
from medwarden.store.audit_repository import append_event
from medwarden.store.schema_portfolio import (
    component,
    component_match_id,
    decision,
    finding,
    policy_application,
    product,
)
from medwarden.vex.carryover import (
    POLICY_ENGINE,
    CarryOverCounts,
    CarryOverPlan,
    CarryOverPolicy,
    FindingFacts,
    PolicyMode,
    plan_carry_over,
)
from medwarden.vex.triage import (
    DecisionOrigin,
)

if TYPE_CHECKING:
    pass

from medwarden.store._triage_rows import (
    DECISION_FIELDS,
    UNDER_INVESTIGATION,
    Values,
    cve_ids,
    decision_values,
    id_variants,
    insert_decisions,
    kev_listed,
    lock_triage,
    point_findings,
    policy_columns,
    policy_of,
)

__all__ = [
    "Loaded",
    "all_policies",
    "apply_policies",
    "carry_out",
    "load_facts",
    "reconcile_vulnerabilities",
    "rows_by_pks",
    "rows_by_vulnerabilities",
]

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Loaded:
    """Findings as carry-over sees them, with what executing a plan needs besides."""

    facts: list[FindingFacts]
    histories: dict[int, list[Values]]
    current: dict[int, int | None]


def finding_query() -> Select[Any]:
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


def rows_by_pks(conn: Connection, pks: Iterable[int]) -> list[Row[Any]]:
    rows: list[Row[Any]] = []
    for chunk in chunked(unique(pks)):
        query = finding_query().where(finding.c.pk.in_(chunk), finding.c.state == "open")
        rows.extend(conn.execute(query))
    return rows


def rows_by_vulnerabilities(
    conn: Connection, ids: Sequence[str], applied_by: Sequence[int] | None
) -> list[Row[Any]]:
    """Open findings of ``ids`` (as id, CVE id or alias), plus findings policies decided.

    ``applied_by`` limits the latter to applications of those policies (None: any)."""
    variants = id_variants(ids)
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
        query = finding_query().where(
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
    query = finding_query().where(open_, finding.c.pk.in_(active))
    found.update((row.pk, row) for row in conn.execute(query))
    return list(found.values())


def read_aliases(conn: Connection, rows: Sequence[Row[Any]]) -> dict[tuple[int, str], list[str]]:
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


def read_histories(conn: Connection, finding_pks: Iterable[int]) -> dict[int, list[Values]]:
    """Every decision of each finding, oldest first; one SELECT per chunk."""
    found: dict[int, list[Values]] = defaultdict(list)
    for chunk in chunked(unique(finding_pks)):
        query = select(decision).where(decision.c.finding_pk.in_(chunk)).order_by(decision.c.pk)
        for row in conn.execute(query).mappings():
            found[int(row["finding_pk"])].append(dict(row))
    return found


def read_logged(conn: Connection, finding_pks: Iterable[int]) -> dict[int, set[int]]:
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


def restore_target(history: Sequence[Values], reverted_pk: int) -> Values | None:
    """The decision a revert of ``reverted_pk`` restores: the last one before it that no
    policy made (None: there was none, the finding goes back to under_investigation)."""
    target = None
    for row in history:
        if row["pk"] >= reverted_pk:
            break
        if row["policy_pk"] is None:
            target = row
    return target


def decision_origin(
    history: Sequence[Values], current: int | None
) -> tuple[DecisionOrigin, int | None]:
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
        target = restore_target(history, int(row["reverts_pk"]))
        pk = None if target is None else int(target["pk"])
    return DecisionOrigin.NONE, None


def load_facts(conn: Connection, rows: Sequence[Row[Any]]) -> Loaded:
    """Build the facts of ``rows``: aliases, origins, log-only records and KEV listings."""
    aliases = read_aliases(conn, rows)
    histories = read_histories(conn, [row.pk for row in rows if row.decision_pk is not None])
    logged = read_logged(conn, [row.pk for row in rows])
    cves = {
        row.pk: cve_ids(row.vulnerability_id, row.cve_id)
        | {
            alias.upper()
            for alias in aliases.get((row.component_pk, row.vulnerability_id), ())
            if alias.upper().startswith("CVE-")
        }
        for row in rows
    }
    listed = kev_listed(conn, (c for ids in cves.values() for c in ids))
    facts: list[FindingFacts] = []
    for row in rows:
        origin, policy_pk = decision_origin(histories.get(row.pk, []), row.decision_pk)
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
    return Loaded(
        facts=facts,
        histories=histories,
        current={int(row.pk): row.decision_pk for row in rows},
    )


def all_policies(conn: Connection, query: Select[Any] | None = None) -> list[CarryOverPolicy]:
    """Every stored policy (of ``query``); one that can no longer be read (a range a newer
    univers refuses) is left out with a warning, so it cannot break the transaction of an
    import: the decisions it made are then reverted, audited like any other revert."""
    policies: list[CarryOverPolicy] = []
    for row in conn.execute(policy_columns() if query is None else query).mappings():
        try:
            policies.append(policy_of(row))
        except MedwardenError as exc:
            _LOG.warning("carry-over policy %s cannot be read and is ignored: %s", row["pk"], exc)
    return policies


# -- carrying out a plan --------------------------------------------------------------------


def execute_plan(
    conn: Connection,
    plan: CarryOverPlan,
    loaded: Loaded,
    *,
    now: datetime,
    actor: str,
    names: Mapping[int, str],
) -> CarryOverCounts:
    """Write what ``plan`` says: reverts first, then applications, log records, audit events."""
    reverts = revert_decisions(conn, plan, loaded, now=now, actor=actor)
    applies = apply_plan(conn, plan, now=now, actor=actor)
    log_only_records(conn, plan, now=now)
    audit_run(conn, plan, reverts, applies, now=now, actor=actor, names=names)
    return CarryOverCounts.of(plan)


def revert_decisions(
    conn: Connection, plan: CarryOverPlan, loaded: Loaded, *, now: datetime, actor: str
) -> dict[int, list[tuple[int, int, int]]]:
    """Restore the decision before each reverted policy decision; end the applications.

    Returns, per policy, (finding, reverted decision, restoring decision) triples."""
    rows: list[Values] = []
    triples: list[tuple[int, int, int]] = []
    for item in plan.revert:
        reverted = loaded.current[item.finding_pk]
        if reverted is None:  # cannot happen: a policy-decided finding has a decision
            continue
        target = restore_target(loaded.histories.get(item.finding_pk, []), reverted)
        values = dict.fromkeys(DECISION_FIELDS) | {"responses_json": "[]"}
        values["status"] = UNDER_INVESTIGATION
        if target is not None:
            values.update({name: target[name] for name in DECISION_FIELDS})
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
    pks = insert_decisions(conn, rows)
    point_findings(
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
    end_applications(conn, ended, PolicyMode.APPLY)
    by_policy: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for (policy_pk, finding_pk, old), pk in zip(triples, pks, strict=True):
        by_policy[policy_pk].append((finding_pk, old, pk))
    return by_policy


def end_applications(conn: Connection, ended: list[Values], mode: PolicyMode) -> None:
    if not ended:
        return
    stmt = update(policy_application).where(
        policy_application.c.policy_pk == bindparam("b_policy"),
        policy_application.c.finding_pk == bindparam("b_finding"),
        policy_application.c.reverted_at.is_(None),
        policy_application.c.mode == mode.value,
    )
    conn.execute(stmt, ended)


def apply_plan(
    conn: Connection, plan: CarryOverPlan, *, now: datetime, actor: str
) -> dict[int, list[tuple[int, int]]]:
    """Write each applied policy's decision; return per policy (finding, decision) pairs."""
    rows = [
        decision_values(
            item.finding_pk, item.policy.decision, actor=actor, at=now, policy_pk=item.policy.pk
        )
        for item in plan.apply
    ]
    pks = insert_decisions(conn, rows)
    point_findings(
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


def log_only_records(conn: Connection, plan: CarryOverPlan, *, now: datetime) -> None:
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
    end_applications(conn, ended, PolicyMode.LOG_ONLY)


def audit_run(
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


def carry_out(
    conn: Connection,
    rows: Sequence[Row[Any]],
    policies: Sequence[CarryOverPolicy],
    *,
    now: datetime,
    actor: str,
) -> CarryOverCounts:
    if not rows:
        return CarryOverCounts()
    loaded = load_facts(conn, rows)
    plan = plan_carry_over(loaded.facts, policies, now)
    names = {int(p.pk): p.name for p in policies if p.pk is not None}
    return execute_plan(conn, plan, loaded, now=now, actor=actor, names=names)


def reconcile_vulnerabilities(
    conn: Connection,
    ids: Sequence[str],
    *,
    now: datetime,
    actor: str,
    applied_by: Sequence[int] | None,
) -> CarryOverCounts:
    policies = all_policies(conn)
    rows = rows_by_vulnerabilities(conn, ids, applied_by)
    return carry_out(conn, rows, policies, now=now, actor=actor)


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
    lock_triage(conn)
    policies = all_policies(conn)
    if not policies:
        return CarryOverCounts()
    rows = rows_by_pks(conn, finding_pks)
    return carry_out(conn, rows, policies, now=now, actor=POLICY_ENGINE)


# -- the repository -------------------------------------------------------------------------
