"""``/api/v1/products``: products, releases, SBOM upload and download, the installed base.

SBOMs are uploaded as the raw document (CycloneDX JSON/XML, SPDX JSON/tag-value) in
the request body, size-limited by the upload middleware; the stored bytes are served
back unchanged.  A product created with ``sbom_public`` serves the current SBOM of its
released versions at ``/api/v1/public/...`` without a token (REQUIREMENTS 6).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from medwarden.api.deps import (
    ClockDep,
    SettingsDep,
    StoreDep,
    require,
    require_product,
)
from medwarden.api.pagination import Pagination, paginate
from medwarden.api.routers.support import annotated_response
from medwarden.api.schemas.common import Page
from medwarden.api.schemas.portfolio import (
    DeltaOut,
    EndOfSupportOut,
    ImportOut,
    InstalledBaseOut,
    ProductIn,
    ProductOut,
    ReleaseIn,
    ReleaseOut,
    ReleaseStateIn,
    RevisionOut,
    WhereUsedOut,
)
from medwarden.auth.model import Permission, Principal
from medwarden.errors import NotFoundError, PermissionDeniedError, UsageError
from medwarden.portfolio.installed import read_installed_base
from medwarden.portfolio.model import LifecycleState, ReleaseSpec
from medwarden.services.portfolio import import_sbom, reevaluate
from medwarden.services.support import end_of_support_report

__all__ = ["PUBLIC_SBOM_PATH", "router"]

router = APIRouter(tags=["portfolio"])

PUBLIC_SBOM_PATH = "/public/products/{slug}/releases/{version}/sbom"
"""The unauthenticated SBOM link (relative to ``/api/v1``); listed in PUBLIC_ROUTES."""

Slug = Annotated[str, Path(min_length=1, max_length=64)]
Version = Annotated[str, Path(min_length=1, max_length=200)]
Reader = Annotated[Principal, Depends(require_product(Permission.READ))]
Manager = Annotated[Principal, Depends(require_product(Permission.MANAGE_PORTFOLIO))]
GlobalReader = Annotated[Principal, Depends(require(Permission.READ))]

_SBOM_TYPES = (
    "application/vnd.cyclonedx+json",
    "application/vnd.cyclonedx+xml",
    "application/spdx+json",
    "text/spdx",
    "application/json",
    "application/xml",
)
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_SBOM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The SBOM document as a file (CycloneDX 1.2-1.6 JSON/XML, SPDX 2.2/2.3).",
        "content": dict.fromkeys(_SBOM_TYPES, _BINARY),
    }
}
_CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "CSV with the columns device_id,product,version[,site][,reported_at].",
        "content": {"text/csv": _BINARY},
    }
}
_SBOM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The SBOM exactly as imported.",
        "content": dict.fromkeys(_SBOM_TYPES, _BINARY),
    }
}


@router.get("/products", response_model=Page[ProductOut], summary="List products")
def list_products(page: Pagination, store: StoreDep, principal: GlobalReader) -> Page[ProductOut]:
    """Products the caller may see, by slug."""
    after = page.after(str)
    products = [
        p
        for p in store.portfolio.products(principal.products)
        if after is None or p.slug > str(after[0])
    ]
    return paginate(
        products[: page.limit + 1], page, key=lambda p: (p.slug,), convert=ProductOut.of
    )


@router.post(
    "/products",
    response_model=ProductOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a product",
)
def add_product(
    body: ProductIn,
    principal: Annotated[Principal, Depends(require(Permission.MANAGE_PORTFOLIO))],
    store: StoreDep,
    clock: ClockDep,
) -> ProductOut:
    """Create a product; a caller scoped to some products cannot create others."""
    if principal.products is not None:
        raise PermissionDeniedError("a product-scoped caller cannot create products")
    return ProductOut.of(
        store.portfolio.create_product(body.spec(), actor=principal.actor, at=clock.now())
    )


@router.get("/products/{slug}", response_model=ProductOut, summary="Show a product")
def show_product(slug: Slug, store: StoreDep, _: Reader) -> ProductOut:
    """One product with its release count."""
    return ProductOut.of(store.portfolio.product(slug))


@router.get("/products/{slug}/releases", response_model=Page[ReleaseOut], summary="List releases")
def list_releases(slug: Slug, page: Pagination, store: StoreDep, _: Reader) -> Page[ReleaseOut]:
    """Releases of a product, oldest first, with current SBOM revision and open findings."""
    after = page.after(int)
    releases = store.portfolio.releases(slug)
    start = 0 if after is None else int(after[0])
    window = releases[start : start + page.limit + 1]
    numbered = list(enumerate(window, start=start + 1))
    result = paginate(
        numbered, page, key=lambda item: (item[0],), convert=lambda item: ReleaseOut.of(item[1])
    )
    return result


@router.post(
    "/products/{slug}/releases",
    response_model=ReleaseOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a release",
)
def add_release(
    slug: Slug, body: ReleaseIn, principal: Manager, store: StoreDep, clock: ClockDep
) -> ReleaseOut:
    """Create a release of a product."""
    spec = ReleaseSpec(body.version, body.state, body.released_at, body.support_end)
    return ReleaseOut.of(
        store.portfolio.create_release(slug, spec, actor=principal.actor, at=clock.now())
    )


@router.get(
    "/products/{slug}/releases/{version}", response_model=ReleaseOut, summary="Show a release"
)
def show_release(slug: Slug, version: Version, store: StoreDep, _: Reader) -> ReleaseOut:
    """One release."""
    return ReleaseOut.of(store.portfolio.release(slug, version))


@router.put(
    "/products/{slug}/releases/{version}/state",
    response_model=ReleaseOut,
    summary="Change a release's lifecycle state",
)
def set_release_state(
    slug: Slug,
    version: Version,
    body: ReleaseStateIn,
    principal: Manager,
    store: StoreDep,
    clock: ClockDep,
) -> ReleaseOut:
    """Move a release to another lifecycle state (audited with the reason)."""
    return ReleaseOut.of(
        store.portfolio.set_release_state(
            slug, version, body.state, actor=principal.actor, at=clock.now(), reason=body.reason
        )
    )


@router.post(
    "/products/{slug}/releases/{version}/sbom",
    response_model=ImportOut,
    status_code=status.HTTP_201_CREATED,
    summary="Upload an SBOM as the release's next revision",
    openapi_extra=_SBOM_BODY,
)
async def upload_sbom(
    slug: Slug,
    version: Version,
    request: Request,
    principal: Manager,
    store: StoreDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> ImportOut:
    """Store the document as a new revision (earlier ones are kept) and match it."""
    data = await request.body()
    if not data:
        raise UsageError("the request body is empty; send the SBOM document")
    from starlette.concurrency import run_in_threadpool

    outcome = await run_in_threadpool(
        import_sbom,
        store.portfolio,
        store,
        slug,
        version,
        data,
        actor=principal.actor,
        clock=clock,
        source="upload",
        max_bytes=settings.max_upload_bytes,
    )
    return ImportOut.of(
        outcome.result,
        [str(issue) for issue in outcome.issues[:100]],
        [
            {"ref": s.component_ref, "reason": s.reason.value, "detail": s.detail}
            for s in outcome.skipped[:1000]
        ],
    )


def _document(store: Any, slug: str, version: str, revision: int | None) -> Response:
    info, document = store.portfolio.revision_document(slug, version, revision)
    return Response(
        content=document,
        media_type=info.media_type,
        headers={
            "ETag": f'"{info.digest}"',
            "Content-Disposition": f'attachment; filename="{slug}-{version}-r{info.number}.sbom"',
        },
    )


@router.get(
    "/products/{slug}/releases/{version}/sbom",
    summary="Download the current (or a given) SBOM revision",
    response_class=Response,
    responses=_SBOM_RESPONSE,
)
def download_sbom(
    slug: Slug,
    version: Version,
    store: StoreDep,
    clock: ClockDep,
    _: Reader,
    revision: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    annotated: Annotated[
        bool, Query(description="The current SBOM with the stored support records written in.")
    ] = False,
) -> Response:
    """The stored document, byte for byte, with its SHA-256 as ETag (or, ``annotated``,
    the current one with its support records: see ``docs/portfolio.md``)."""
    if annotated:
        return annotated_response(store, slug, version, revision, clock)
    return _document(store, slug, version, revision)


@router.get(
    PUBLIC_SBOM_PATH,
    summary="Public SBOM link of a released version (no token)",
    response_class=Response,
    responses=_SBOM_RESPONSE,
)
def public_sbom(slug: Slug, version: Version, store: StoreDep) -> Response:
    """The current SBOM of a released or fielded version whose product publishes SBOMs.

    Anything else (unknown, unpublished, in development) is the same 404, so the link
    reveals nothing about products that do not publish."""
    missing = NotFoundError(f"no public SBOM for {slug}@{version}")
    try:
        product = store.portfolio.product(slug)
        release = store.portfolio.release(slug, version)
    except NotFoundError:
        raise missing from None
    published = (LifecycleState.RELEASED, LifecycleState.FIELDED)
    if not product.sbom_public or release.state not in published:
        raise missing
    try:
        return _document(store, slug, version, None)
    except NotFoundError:
        raise missing from None


@router.get(
    "/products/{slug}/releases/{version}/revisions",
    response_model=list[RevisionOut],
    summary="List a release's SBOM revisions",
)
def list_revisions(slug: Slug, version: Version, store: StoreDep, _: Reader) -> list[RevisionOut]:
    """Every revision, oldest first; none is ever overwritten."""
    return [RevisionOut.of(r) for r in store.portfolio.revisions(slug, version)]


@router.post(
    "/installed-base",
    response_model=InstalledBaseOut,
    summary="Import which release each fielded unit runs",
    openapi_extra=_CSV_BODY,
)
async def upload_installed_base(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.MANAGE_PORTFOLIO))],
    store: StoreDep,
    clock: ClockDep,
) -> InstalledBaseOut:
    """All lines or none; every product named must be in the caller's scope."""
    units = read_installed_base(await request.body(), source="upload")
    for product in sorted({u.product for u in units}):
        principal.check_product(product)
    counts = store.portfolio.import_installed_base(
        units, actor=principal.actor, at=clock.now(), source="api upload"
    )
    return InstalledBaseOut(**counts)


@router.get(
    "/components/where-used",
    response_model=list[WhereUsedOut],
    summary="Which releases and how many units run a component",
)
def where_used(
    store: StoreDep,
    principal: GlobalReader,
    purl: Annotated[str | None, Query(min_length=1, max_length=2000)] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=500)] = None,
    version: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> list[WhereUsedOut]:
    """Variant analysis (REQUIREMENTS 61), limited to the caller's products."""
    used = store.portfolio.where_used(purl=purl, name=name, version=version)
    return [WhereUsedOut.of(u) for u in used if principal.can_access_product(u.product)]


@router.get(
    "/end-of-support",
    response_model=list[EndOfSupportOut],
    summary="Components past, near or before the device's end of support",
)
def end_of_support(
    store: StoreDep,
    principal: GlobalReader,
    clock: ClockDep,
    today: Annotated[date | None, Query(description="Evaluate as of this date.")] = None,
) -> list[EndOfSupportOut]:
    """End-of-support report over the caller's products (REQUIREMENTS 4)."""
    day = today or clock.now().date()
    items = end_of_support_report(store.portfolio, today=day, products=principal.products)
    return [EndOfSupportOut.of(i) for i in items]


@router.post(
    "/portfolio/reevaluate",
    response_model=DeltaOut,
    summary="Re-evaluate the portfolio against changed intelligence now",
)
def reevaluate_now(
    principal: Annotated[Principal, Depends(require(Permission.TRIAGE))],
    store: StoreDep,
    clock: ClockDep,
) -> DeltaOut:
    """Match what changed since the last run (also run by the monitoring schedule)."""
    return DeltaOut.of(reevaluate(store.portfolio, store, actor=principal.actor, clock=clock))
