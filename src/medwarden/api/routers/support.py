"""Component support records (REQUIREMENTS 3): set one, download the annotated SBOM.

``PUT /products/{slug}/releases/{version}/components/support`` sets (or clears) the
support record of one component of the release's current SBOM revision, audited; the
stored document does not change.  ``GET .../sbom?annotated=true`` (in the portfolio
router, through :func:`annotated_response`) serves the current SBOM with the stored
records written into it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from medwarden.api.deps import ClockDep, StoreDep, require_product
from medwarden.api.schemas.support import ComponentSupportIn, ComponentSupportOut
from medwarden.auth.model import Permission, Principal
from medwarden.core.clock import Clock
from medwarden.core.digests import sha256_hex
from medwarden.errors import UsageError
from medwarden.services.support import annotated_sbom, set_component_support
from medwarden.store.intel_repository import SqlStore

__all__ = ["annotated_response", "router"]

router = APIRouter(tags=["portfolio"])

Slug = Annotated[str, Path(min_length=1, max_length=64)]
Version = Annotated[str, Path(min_length=1, max_length=200)]
Manager = Annotated[Principal, Depends(require_product(Permission.MANAGE_PORTFOLIO))]


@router.put(
    "/products/{slug}/releases/{version}/components/support",
    response_model=ComponentSupportOut,
    summary="Set or clear a component's support level and end of support",
)
def set_support(
    slug: Slug,
    version: Version,
    body: ComponentSupportIn,
    principal: Manager,
    store: StoreDep,
    clock: ClockDep,
) -> ComponentSupportOut:
    """Store the record in the current SBOM revision (audited as ``portfolio.support_set``)."""
    stored = set_component_support(
        store.support,
        slug,
        version,
        body.ref,
        level=body.level,
        end_of_support=body.end_of_support,
        justification=body.justification,
        actor=principal.actor,
        clock=clock,
        reason=body.reason,
    )
    return ComponentSupportOut.of(stored)


def annotated_response(
    store: SqlStore, slug: str, version: str, revision: int | None, clock: Clock
) -> Response:
    """The current SBOM with its stored support records written in (not byte-identical to
    the import: its SHA-256 is sent as ETag, the imported revision's in a header)."""
    if revision is not None:
        raise UsageError("only the current SBOM revision can be annotated; leave out revision")
    annotated = annotated_sbom(store.support, slug, version, clock=clock)
    number = annotated.revision.number
    return Response(
        content=annotated.document,
        media_type=annotated.media_type,
        headers={
            "ETag": f'"{sha256_hex(annotated.document)}"',
            "X-Medwarden-Revision-SHA256": annotated.revision.digest,
            "Content-Disposition": (
                f'attachment; filename="{slug}-{version}-r{number}-annotated.sbom"'
            ),
        },
    )
