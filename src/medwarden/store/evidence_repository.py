"""What the evidence pack of one release holds, read in one snapshot (REQUIREMENTS 52).

:meth:`SqlEvidence.release_snapshot` reads, in a single read transaction (SQLite's
snapshot; ``REPEATABLE READ`` on PostgreSQL), the product, the release, every SBOM
revision with its document as imported, the current revision's support records, every
finding of the release (open and resolved) with its match evidence, complete decision
history and policy applications, the policies behind them, and the audit trail's head
at that moment.  So the pack's records and its audit checkpoint describe one state.

Statements: a handful of lookups, then one per page of 500 findings and one per chunk
of 500 keys for decisions, applications and policies -- never one per finding.  The
decision history is the one :meth:`~medwarden.store.triage_repository.SqlTriage.history`
returns, read for all findings at once.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import Connection, and_, func, select

from medwarden.portfolio.findings import MAX_PAGE, FindingQuery
from medwarden.services.evidence import FindingEvidence, ReleaseSnapshot, RevisionDocument
from medwarden.store._batching import chunked
from medwarden.store._portfolio_findings import finding_select, finding_view
from medwarden.store._portfolio_rows import product_from_row, release_from_row, revision_from_row
from medwarden.store._release_lookup import product_and_release, stored_support
from medwarden.store._triage_rows import (
    application_of,
    policy_columns,
    policy_of,
    record_of,
)
from medwarden.store.audit_repository import read_head
from medwarden.store.schema_portfolio import (
    component_match,
    decision,
    finding,
    policy,
    policy_application,
    release,
    revision_component,
    sbom_revision,
)

if TYPE_CHECKING:
    from medwarden.portfolio.findings import FindingView
    from medwarden.portfolio.support import ComponentSupport
    from medwarden.store.db import Database
    from medwarden.vex.carryover import CarryOverPolicy, PolicyApplication
    from medwarden.vex.triage import DecisionRecord

__all__ = ["SqlEvidence"]


def _findings(conn: Connection, slug: str, version: str) -> list[tuple[FindingView, int | None]]:
    """Every finding of the release with its evidence and current decision, by id."""
    found: list[tuple[FindingView, int | None]] = []
    after = 0
    while True:
        query = FindingQuery(
            products=frozenset({slug}), release=version, state=None, after=after, limit=MAX_PAGE
        )
        stmt = (
            finding_select(query)
            .add_columns(finding.c.decision_pk, component_match.c.payload)
            .outerjoin(
                component_match,
                and_(
                    component_match.c.component_pk == finding.c.component_pk,
                    component_match.c.vulnerability_id == finding.c.vulnerability_id,
                ),
            )
        )
        rows = conn.execute(stmt).mappings().all()
        for row in rows:
            evidence = orjson.loads(row["payload"]) if row["payload"] is not None else None
            found.append((finding_view(row, evidence), row["decision_pk"]))
        if len(rows) < MAX_PAGE:
            return found
        after = int(rows[-1]["pk"])


def _decisions(conn: Connection, finding_pks: list[int]) -> dict[int, list[DecisionRecord]]:
    history: dict[int, list[DecisionRecord]] = defaultdict(list)
    for chunk in chunked(finding_pks):
        query = select(decision).where(decision.c.finding_pk.in_(chunk)).order_by(decision.c.pk)
        for row in conn.execute(query).mappings():
            record = record_of(row)
            history[record.finding_pk].append(record)
    return history


def _applications(conn: Connection, finding_pks: list[int]) -> dict[int, list[PolicyApplication]]:
    found: dict[int, list[PolicyApplication]] = defaultdict(list)
    for chunk in chunked(finding_pks):
        query = (
            select(policy_application)
            .where(policy_application.c.finding_pk.in_(chunk))
            .order_by(policy_application.c.pk)
        )
        for row in conn.execute(query).mappings():
            application = application_of(row)
            found[application.finding_pk].append(application)
    return found


def _policies(conn: Connection, pks: set[int]) -> list[CarryOverPolicy]:
    found: list[CarryOverPolicy] = []
    for chunk in chunked(sorted(pks)):
        query = policy_columns().where(policy.c.pk.in_(chunk)).order_by(policy.c.pk)
        found.extend(policy_of(row) for row in conn.execute(query).mappings())
    return found


def _revisions(conn: Connection, release_pk: int) -> dict[int, RevisionDocument]:
    """Every revision of the release by primary key, oldest first, documents included."""
    query = (
        select(sbom_revision)
        .where(sbom_revision.c.release_pk == release_pk)
        .order_by(sbom_revision.c.number)
    )
    return {
        int(row["pk"]): RevisionDocument(revision_from_row(row), bytes(row["document"]))
        for row in conn.execute(query).mappings()
    }


def _support(conn: Connection, revision_pk: int | None) -> list[tuple[str, ComponentSupport]]:
    if revision_pk is None:
        return []
    rc = revision_component.c
    rows = conn.execute(
        select(rc.ref, rc.level_of_support, rc.end_of_support, rc.support_justification)
        .where(rc.revision_pk == revision_pk)
        .order_by(rc.ref)
    ).all()
    records = [(ref, stored_support(level, end, why)) for ref, level, end, why in rows]
    return [(ref, support) for ref, support in records if support is not None]


class SqlEvidence:
    """Reads the content of a release's evidence pack from the portfolio tables."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def release_snapshot(self, slug: str, version: str) -> ReleaseSnapshot:
        """Everything the evidence pack of ``slug``@``version`` holds, as one snapshot."""
        with self._database.read("reading a release's evidence") as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            count, head = read_head(conn)
            prod, rel = product_and_release(conn, slug, version)
            releases = conn.execute(
                select(func.count()).where(release.c.product_pk == prod["pk"])
            ).scalar_one()
            revisions = _revisions(conn, rel["pk"])
            current = revisions.get(rel["current_revision_pk"] or 0)
            findings = _findings(conn, slug, version)
            pks = [view.id for view, _current in findings]
            history = _decisions(conn, pks)
            applications = _applications(conn, pks)
            policy_pks = {a.policy_pk for items in applications.values() for a in items}
            policy_pks |= {
                d.policy_pk for items in history.values() for d in items if d.policy_pk is not None
            }
            open_count = sum(1 for view, _current in findings if view.state == "open")
            return ReleaseSnapshot(
                product=product_from_row(prod, int(releases)),
                release=release_from_row(
                    slug, rel, None if current is None else current.info, open_count
                ),
                revisions=tuple(revisions.values()),
                support=tuple(_support(conn, rel["current_revision_pk"])),
                findings=tuple(
                    FindingEvidence(
                        finding=view,
                        decision_pk=current_pk,
                        decisions=tuple(history.get(view.id, ())),
                        applications=tuple(applications.get(view.id, ())),
                    )
                    for view, current_pk in findings
                ),
                policies=tuple(_policies(conn, policy_pks)),
                audit_count=count,
                audit_head=head,
            )
