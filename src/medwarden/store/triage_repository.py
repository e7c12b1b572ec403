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

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select, update

from medwarden.audit.model import EventDraft
from medwarden.core.clock import ensure_utc
from medwarden.core.digests import canonical_json
from medwarden.errors import (
    ConflictError,
    NotFoundError,
    RuleViolationError,
    UsageError,
)
from medwarden.store._batching import unique
from medwarden.store._carryover import (
    all_policies,
    apply_policies,
    carry_out,
    reconcile_vulnerabilities,
    rows_by_vulnerabilities,
)
from medwarden.store._triage_rows import (
    UNDER_INVESTIGATION,
    Values,
    application_of,
    cve_ids,
    decision_of,
    decision_values,
    insert_decisions,
    kev_listed,
    lock_triage,
    point_findings,
    policy_audit,
    policy_columns,
    policy_of,
    record_of,
)
from medwarden.store.audit_repository import append_event
from medwarden.store.schema_portfolio import (
    component,
    decision,
    finding,
    policy,
    policy_application,
    product,
)
from medwarden.vex.carryover import (
    POLICY_ENGINE,
    CarryOverCounts,
    CarryOverPolicy,
    PolicyApplication,
    PolicyMode,
    PolicyOutcome,
)
from medwarden.vex.model import VexStatus
from medwarden.vex.triage import (
    DecisionRecord,
    TriageDecision,
    validate_decision,
)

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["SqlTriage", "apply_policies"]


# -- rows <-> domain ----------------------------------------------------------------------


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
            lock_triage(conn)
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
            listed = bool(kev_listed(conn, cve_ids(row.vulnerability_id, row.cve_id)))
            validate_decision(chosen, kev_listed=listed, actor=actor, now=now)
            before: Values = {"decision_pk": row.decision_pk, "status": row.status}
            if row.decision_pk is not None:
                previous = (
                    conn.execute(select(decision).where(decision.c.pk == row.decision_pk))
                    .mappings()
                    .first()
                )
                if previous is not None:
                    before |= decision_of(previous).as_dict() | {
                        "actor": previous["actor"],
                        "policy_pk": previous["policy_pk"],
                    }
            values = decision_values(finding_pk, chosen, actor=actor.strip(), at=now)
            (pk,) = insert_decisions(conn, [values])
            point_findings(
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
            return record_of({"pk": pk, **values})

    def history(self, finding_pk: int) -> list[DecisionRecord]:
        """Every decision ever recorded on the finding, oldest first (none is ever changed)."""
        with self._database.read("reading the decision history") as conn:
            exists = conn.execute(select(finding.c.pk).where(finding.c.pk == finding_pk)).first()
            if exists is None:
                raise NotFoundError(f"there is no finding {finding_pk}")
            query = (
                select(decision).where(decision.c.finding_pk == finding_pk).order_by(decision.c.pk)
            )
            return [record_of(row) for row in conn.execute(query).mappings()]

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
            lock_triage(conn)
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
            lock_triage(conn)
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
            source = decision_of(row)
            if source.status.value == UNDER_INVESTIGATION:
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
            lock_triage(conn)
            row = conn.execute(policy_columns().where(policy.c.pk == policy_pk)).mappings().first()
            if row is None:
                raise NotFoundError(f"there is no policy {policy_pk}")
            if not row["enabled"]:
                raise ConflictError(f"policy {policy_pk} is already disabled")
            conn.execute(update(policy).where(policy.c.pk == policy_pk).values(enabled=False))
            stored = replace(policy_of(row), enabled=False)
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
            counts = reconcile_vulnerabilities(
                conn, [stored.vulnerability_id], now=now, actor=actor, applied_by=[policy_pk]
            )
            return PolicyOutcome(stored, counts)

    def list_policies(self, *, include_disabled: bool = True) -> list[CarryOverPolicy]:
        """Every stored policy, oldest first (enabled ones only unless ``include_disabled``)."""
        query = policy_columns().order_by(policy.c.pk)
        if not include_disabled:
            query = query.where(policy.c.enabled.is_(True))
        with self._database.read("listing carry-over policies") as conn:
            return all_policies(conn, query)

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
            return [application_of(row) for row in conn.execute(query).mappings()]

    def expire_decisions(self, now: datetime, actor: str = POLICY_ENGINE) -> list[int]:
        """Return findings whose current decision has expired to ``under_investigation``.

        Each gets a new decision (reverting the expired one) and the findings are listed in
        one ``triage.decision_expire`` audit event; returns their keys.  Set-based: one
        query finds them, one insert and one update per batch write the change."""
        now = ensure_utc(now)
        with self._database.write("expiring triage decisions") as conn:
            lock_triage(conn)
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
                decision_values(f_pk, reopened, actor=actor, at=now, reverts_pk=d_pk)
                for f_pk, d_pk, _when in expired
            ]
            pks = insert_decisions(conn, rows)
            point_findings(
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
            lock_triage(conn)
            policies = all_policies(conn)
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
            rows = rows_by_vulnerabilities(conn, ids, None)
            return carry_out(conn, rows, policies, now=now, actor=actor)


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
    listed = bool(kev_listed(conn, cve_ids(new.vulnerability_id, None)))
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
            after=policy_audit(stored),
            reason=reason,
        ),
    )
    if not stored.enabled:
        return PolicyOutcome(stored, CarryOverCounts())
    counts = reconcile_vulnerabilities(
        conn, [stored.vulnerability_id], now=now, actor=actor, applied_by=[]
    )
    return PolicyOutcome(stored, counts)
