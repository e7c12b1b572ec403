"""Reading findings (one query per page) and the consequences of new findings: carry-over
policies applied and notifications enqueued, inside the caller's write transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
)

from medwarden.intel.cvss import SeverityRating
from medwarden.portfolio.findings import Delta, FindingQuery, FindingView
from medwarden.portfolio.notices import FindingGroup, new_finding_notices
from medwarden.store._batching import chunked
from medwarden.store._carryover import apply_policies as carry_over
from medwarden.store._finding_sync import SyncCounts
from medwarden.store.notification_repository import enqueue_notifications
from medwarden.store.schema import epss, kev
from medwarden.store.schema_portfolio import (
    component,
    finding,
    product,
    release,
)

if TYPE_CHECKING:
    from medwarden.notify.model import Notification

__all__ = [
    "apply_policies",
    "consequences",
    "enqueue",
    "finding_groups",
    "finding_select",
    "finding_view",
    "kev_groups",
    "merge_groups",
]


def enqueue(conn: Connection, notifications: Sequence[Notification]) -> None:
    """Put ``notifications`` in the outbox, inside the caller's transaction."""
    if notifications:
        enqueue_notifications(conn, notifications)


def apply_policies(conn: Connection, finding_pks: Sequence[int], now: datetime) -> int:
    """Carry policies over to new or reopened findings; how many decisions were written."""
    if not finding_pks:
        return 0
    return carry_over(conn, finding_pks, now).applied


def finding_groups(conn: Connection, where: Any) -> list[FindingGroup]:
    """Findings matching ``where`` grouped per (product, vulnerability); one query."""
    f = finding.c
    rows = conn.execute(
        select(
            product.c.slug,
            f.vulnerability_id,
            func.max(f.cve_id),
            func.max(f.severity_rank),
            func.count(),
            func.min(f.pk),
        )
        .select_from(finding.join(product, product.c.pk == f.product_pk))
        .where(where)
        .group_by(product.c.slug, f.vulnerability_id)
        .order_by(product.c.slug, f.vulnerability_id)
    ).all()
    if not rows:
        return []
    versions: dict[tuple[str, str], list[str]] = {}
    for slug, vuln, version in conn.execute(
        select(product.c.slug, f.vulnerability_id, release.c.version)
        .distinct()
        .select_from(
            finding.join(product, product.c.pk == f.product_pk).join(
                release, release.c.pk == f.release_pk
            )
        )
        .where(where)
        .order_by(release.c.version)
    ):
        versions.setdefault((slug, vuln), []).append(version)
    return [
        FindingGroup(
            product=slug,
            vulnerability_id=vuln,
            severity_rank=int(rank),
            findings=int(count),
            releases=tuple(versions.get((slug, vuln), ())),
            first_finding=int(first),
            cve_id=cve,
        )
        for slug, vuln, cve, rank, count, first in rows
    ]


def consequences(
    conn: Connection, counts: SyncCounts, at: datetime, *, kev_findings: int, components: int
) -> Delta:
    """Apply policies to the findings a sync created or reopened; enqueue their notices."""
    f = finding.c
    arrived = [*counts.new, *counts.reopened]
    applied = apply_policies(conn, arrived, at)
    found: list[FindingGroup] = []
    for chunk in chunked(counts.new, 5_000):
        # A policy may already have closed some of them: only still-open ones are news.
        still_open = and_(f.pk.in_(chunk), f.status.in_(["under_investigation", "affected"]))
        found.extend(finding_groups(conn, still_open))
    enqueue(conn, new_finding_notices(merge_groups(found), at))
    return Delta(
        new=len(counts.new),
        changed=len(counts.changed),
        reopened=len(counts.reopened),
        resolved=len(counts.resolved),
        components=components,
        kev_findings=kev_findings,
        policies_applied=applied,
    )


def merge_groups(groups: list[FindingGroup]) -> list[FindingGroup]:
    """Join groups of the same (product, vulnerability) computed over several chunks."""
    merged: dict[tuple[str, str], FindingGroup] = {}
    for g in groups:
        key = (g.product, g.vulnerability_id)
        seen = merged.get(key)
        merged[key] = (
            g
            if seen is None
            else FindingGroup(
                product=g.product,
                vulnerability_id=g.vulnerability_id,
                severity_rank=max(g.severity_rank, seen.severity_rank),
                findings=g.findings + seen.findings,
                releases=tuple(sorted({*g.releases, *seen.releases})),
                first_finding=min(g.first_finding, seen.first_finding),
                cve_id=g.cve_id or seen.cve_id,
            )
        )
    return list(merged.values())


def kev_groups(conn: Connection, cursor: int, top: int) -> list[FindingGroup]:
    if top <= cursor:
        return []
    listed = exists(
        select(literal(1)).where(
            kev.c.cve_id == finding.c.cve_id, kev.c.change_seq > cursor, kev.c.change_seq <= top
        )
    )
    return finding_groups(conn, and_(finding.c.state == "open", listed))


def finding_select(query: FindingQuery) -> Any:
    f = finding.c
    stmt = (
        select(
            f.pk,
            product.c.slug.label("product"),
            release.c.version.label("release"),
            component.c.name.label("component_name"),
            component.c.version.label("component_version"),
            component.c.purl.label("component_purl"),
            f.vulnerability_id,
            f.cve_id,
            f.severity,
            f.state,
            f.status,
            f.discovered_at,
            f.discovery_method,
            f.discovery_source,
            f.changed_at,
            f.resolved_at,
            f.resolution,
            kev.c.date_added.label("kev_date_added"),
            epss.c.score.label("epss"),
            epss.c.percentile.label("epss_percentile"),
        )
        .select_from(
            finding.join(product, product.c.pk == f.product_pk)
            .join(release, release.c.pk == f.release_pk)
            .join(component, component.c.pk == f.component_pk)
            .outerjoin(kev, kev.c.cve_id == f.cve_id)
            .outerjoin(epss, epss.c.cve_id == f.cve_id)
        )
        .where(f.pk > query.after)
        .order_by(f.pk)
        .limit(query.limit)
    )
    if query.products is not None:
        stmt = stmt.where(product.c.slug.in_(sorted(query.products)))
    if query.release is not None:
        stmt = stmt.where(release.c.version == query.release)
    if query.min_severity is not None:
        stmt = stmt.where(f.severity_rank >= query.min_severity.rank)
    if query.kev is not None:
        stmt = stmt.where(kev.c.cve_id.is_not(None) if query.kev else kev.c.cve_id.is_(None))
    if query.state is not None:
        stmt = stmt.where(f.state == query.state)
    if query.status is not None:
        stmt = stmt.where(f.status == query.status)
    if query.vulnerability is not None:
        wanted = query.vulnerability.upper()
        stmt = stmt.where(or_(func.upper(f.vulnerability_id) == wanted, f.cve_id == wanted))
    if query.new_since is not None:
        stmt = stmt.where(f.discovered_at >= query.new_since)
    return stmt


def finding_view(row: Mapping[Any, Any], evidence: dict[str, Any] | None = None) -> FindingView:
    return FindingView(
        id=row["pk"],
        product=row["product"],
        release=row["release"],
        component_name=row["component_name"],
        component_version=row["component_version"],
        component_purl=row["component_purl"],
        vulnerability_id=row["vulnerability_id"],
        cve_id=row["cve_id"],
        severity=SeverityRating(row["severity"]),
        state=row["state"],
        status=row["status"],
        discovered_at=row["discovered_at"],
        discovery_method=row["discovery_method"],
        discovery_source=row["discovery_source"],
        changed_at=row["changed_at"],
        resolved_at=row["resolved_at"],
        resolution=row["resolution"],
        kev=row["kev_date_added"] is not None,
        kev_date_added=row["kev_date_added"],
        epss=row["epss"],
        epss_percentile=row["epss_percentile"],
        evidence=evidence,
    )
