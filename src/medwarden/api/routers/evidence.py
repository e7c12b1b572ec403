"""``GET /products/{slug}/releases/{version}/evidence``: the release's evidence pack (R52).

A zip of every SBOM revision, the product and release facts, every finding with its
evidence and complete decision history, policy applications, the related audit events
and a manifest of SHA-256 hashes with the audit checkpoint (see
:mod:`medwarden.services.evidence`).  Readers of the product may download it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from medwarden.api.deps import ClockDep, StoreDep, require_product
from medwarden.auth.model import Permission, Principal
from medwarden.services.evidence import evidence_pack

__all__ = ["router"]

router = APIRouter(tags=["portfolio"])

Slug = Annotated[str, Path(min_length=1, max_length=64)]
Version = Annotated[str, Path(min_length=1, max_length=200)]
Reader = Annotated[Principal, Depends(require_product(Permission.READ))]

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
_ZIP_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The evidence pack (zip); see README.txt inside.",
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.get(
    "/products/{slug}/releases/{version}/evidence",
    summary="Download the evidence pack of a release",
    response_class=Response,
    responses=_ZIP_RESPONSE,
)
def download_evidence(
    slug: Slug, version: Version, store: StoreDep, clock: ClockDep, _: Reader
) -> Response:
    """The pack as of now; the manifest's SHA-256 and the audit checkpoint are headers."""
    pack = evidence_pack(store.evidence, store.audit, slug, version, clock=clock)
    name = _UNSAFE.sub("_", f"evidence-{slug}-{version}.zip")
    return Response(
        content=pack.data,
        media_type="application/zip",
        headers={
            "ETag": f'"{pack.sha256}"',
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Medwarden-Manifest-SHA256": pack.manifest_sha256,
            "X-Medwarden-Audit-Checkpoint": str(pack.checkpoint),
        },
    )
