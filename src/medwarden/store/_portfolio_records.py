"""Findings of the portfolio one at a time or a page at a time, and findings reported by
people (researchers, tests, complaints, ISAOs) rather than raised by a feed."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import (
    and_,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from medwarden.errors import ConflictError, NotFoundError
from medwarden.portfolio.findings import (
    FindingQuery,
    FindingReport,
    FindingView,
)
from medwarden.store._portfolio_findings import (
    finding_select,
    finding_view,
)
from medwarden.store._portfolio_rows import (
    event_draft,
)
from medwarden.store._release_lookup import product_row, release_row
from medwarden.store.audit_repository import append_event
from medwarden.store.schema_portfolio import (
    component_match,
    decision,
    finding,
    product,
    revision_component,
)

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["FindingRecords"]


class FindingRecords:
    """Finding queries and reports (part of
    :class:`~medwarden.store.portfolio_repository.SqlPortfolio`)."""

    _database: Database

    def findings(self, query: FindingQuery) -> list[FindingView]:
        """One page of findings (ids above ``query.after``, ascending): one query, two with
        ``new_since`` (the first finds where such findings start, by the time index)."""
        with self._database.read("listing findings") as conn:
            if query.new_since is not None:
                # ``pk + 0`` keeps both databases from answering min(pk) by walking the
                # primary key; the (discovered_at, pk) index answers it directly.
                first = conn.execute(
                    select(func.min(finding.c.pk + 0)).where(
                        finding.c.discovered_at >= query.new_since
                    )
                ).scalar()
                if first is None:
                    return []
                query = replace(query, after=max(query.after, int(first) - 1))
            rows = conn.execute(finding_select(query)).mappings().all()
            return [finding_view(r) for r in rows]

    def finding(self, pk: int, products: frozenset[str] | None = None) -> FindingView:
        """One finding with its evidence; :class:`NotFoundError` if absent or not visible."""
        query = finding_select(FindingQuery(products=products, state=None, limit=1))
        query = (
            query.where(finding.c.pk == pk)
            .add_columns(component_match.c.payload)
            .outerjoin(
                component_match,
                and_(
                    component_match.c.component_pk == finding.c.component_pk,
                    component_match.c.vulnerability_id == finding.c.vulnerability_id,
                ),
            )
        )
        with self._database.read("reading a finding") as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(f"there is no finding {pk}")
        evidence = orjson.loads(row["payload"]) if row["payload"] is not None else None
        return finding_view(row, evidence)

    def decision_product(self, decision_pk: int) -> str:
        """The product of the finding a decision was made on (for scope checks)."""
        query = (
            select(product.c.slug)
            .select_from(
                decision.join(finding, finding.c.pk == decision.c.finding_pk).join(
                    product, product.c.pk == finding.c.product_pk
                )
            )
            .where(decision.c.pk == decision_pk)
        )
        with self._database.read("reading a decision's product") as conn:
            slug = conn.execute(query).scalar()
        if slug is None:
            raise NotFoundError(f"there is no decision {decision_pk}")
        return str(slug)

    def report_finding(
        self, slug: str, version: str, report: FindingReport, *, actor: str, at: datetime
    ) -> FindingView:
        """Record a finding people reported (researcher, internal test, complaint, ISAO).

        The component must be in the release's current SBOM; a finding the feeds already
        raised for the same component and vulnerability is a :class:`ConflictError`."""
        with self._database.write("recording a reported finding") as conn:
            prod = product_row(conn, slug)
            rel = release_row(conn, prod["pk"], slug, version)
            component_pk = conn.execute(
                select(revision_component.c.component_pk).where(
                    revision_component.c.revision_pk == rel["current_revision_pk"],
                    revision_component.c.ref == report.component_ref,
                )
            ).scalar()
            if component_pk is None:
                raise NotFoundError(
                    f"the current SBOM of {slug}@{version} has no component "
                    f"{report.component_ref!r}"
                )
            try:
                with conn.begin_nested():
                    pk = conn.execute(
                        insert(finding)
                        .values(
                            product_pk=prod["pk"],
                            release_pk=rel["pk"],
                            component_pk=component_pk,
                            vulnerability_id=report.vulnerability_id,
                            cve_id=report.cve_id,
                            severity=report.severity.value,
                            severity_rank=report.severity.rank,
                            state="open",
                            status="under_investigation",
                            discovered_at=report.discovered_at or at,
                            discovery_method=report.method.value,
                            discovery_source=report.source,
                            discovery_detail=report.detail,
                            changed_at=at,
                        )
                        .returning(finding.c.pk)
                    ).scalar_one()
            except IntegrityError:
                raise ConflictError(
                    f"{slug}@{version} already has a finding of {report.vulnerability_id} "
                    f"on {report.component_ref}"
                ) from None
            append_event(
                conn,
                event_draft(
                    at,
                    actor,
                    "finding.report",
                    "finding",
                    str(pk),
                    after={
                        "release": f"{slug}@{version}",
                        "component_ref": report.component_ref,
                        "vulnerability_id": report.vulnerability_id,
                        "severity": report.severity.value,
                        "discovery": {
                            "method": report.method.value,
                            "source": report.source,
                            "detail": report.detail,
                        },
                    },
                ),
            )
            row = (
                conn.execute(
                    finding_select(FindingQuery(state=None, limit=1)).where(finding.c.pk == pk)
                )
                .mappings()
                .one()
            )
            return finding_view(row)
