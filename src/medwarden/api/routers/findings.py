"""``/api/v1/findings``: list, filter and show findings; report findings found by people.

Lists are keyset-paginated by finding id and always limited to the caller's products.
A finding outside the caller's scope is a 404 (finding ids, unlike product slugs, would
otherwise reveal what exists in products the caller may not see).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from medwarden.api.deps import ClockDep, StoreDep, require, require_product
from medwarden.api.pagination import Pagination, paginate
from medwarden.api.schemas.common import Page
from medwarden.api.schemas.portfolio import FindingDetailOut, FindingOut, FindingReportIn
from medwarden.auth.model import Permission, Principal
from medwarden.intel.cvss import SeverityRating
from medwarden.portfolio.findings import FindingQuery, FindingReport

__all__ = ["router"]

router = APIRouter(tags=["findings"])

Reader = Annotated[Principal, Depends(require(Permission.READ))]
_ID = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/findings", response_model=Page[FindingOut], summary="List findings")
def list_findings(
    page: Pagination,
    store: StoreDep,
    principal: Reader,
    product: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    release: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Needs product.")
    ] = None,
    severity: Annotated[SeverityRating | None, Query(description="At or above.")] = None,
    kev: Annotated[bool | None, Query(description="Only (true) or no (false) KEV.")] = None,
    state: Annotated[str, Query(pattern="^(open|resolved|all)$")] = "open",
    status_: Annotated[
        str | None,
        Query(alias="status", pattern="^(under_investigation|affected|not_affected|fixed)$"),
    ] = None,
    vulnerability: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    new_since: Annotated[
        datetime | None, Query(description="Discovered at or after (with time zone).")
    ] = None,
) -> Page[FindingOut]:
    """Findings in id order; filters combine."""
    if product is not None:
        principal.check_product(product)
        products: frozenset[str] | None = frozenset({product})
    else:
        products = principal.products
    after = page.after(int)
    query = FindingQuery(
        products=products,
        release=release,
        min_severity=severity,
        kev=kev,
        state=None if state == "all" else state,
        status=status_,
        vulnerability=vulnerability,
        new_since=new_since,
        after=0 if after is None else int(after[0]),
        limit=min(page.limit + 1, 500),
    )
    rows = store.portfolio.findings(query)
    return paginate(rows, page, key=lambda f: (f.id,), convert=FindingOut.of)


@router.get("/findings/{finding_id}", response_model=FindingDetailOut, summary="Show a finding")
def show_finding(finding_id: _ID, store: StoreDep, principal: Reader) -> FindingDetailOut:
    """One finding with its match evidence."""
    return FindingDetailOut.of(store.portfolio.finding(finding_id, principal.products))


@router.post(
    "/products/{slug}/releases/{version}/findings",
    response_model=FindingOut,
    status_code=status.HTTP_201_CREATED,
    summary="Report a finding discovered by people",
)
def report_finding(
    slug: Annotated[str, Path(min_length=1, max_length=64)],
    version: Annotated[str, Path(min_length=1, max_length=200)],
    body: FindingReportIn,
    principal: Annotated[Principal, Depends(require_product(Permission.TRIAGE))],
    store: StoreDep,
    clock: ClockDep,
) -> FindingOut:
    """A researcher report, internal test, customer complaint or ISAO notice; the
    discovery method and source are required (REQUIREMENTS 11)."""
    report = FindingReport(
        component_ref=body.component_ref,
        vulnerability_id=body.vulnerability_id,
        method=body.discovery_method,
        source=body.discovery_source,
        severity=body.severity,
        detail=body.detail,
        discovered_at=body.discovered_at,
    )
    found = store.portfolio.report_finding(
        slug, version, report, actor=principal.actor, at=clock.now()
    )
    return FindingOut.of(found)
