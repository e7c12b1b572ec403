"""``/api/v1/audit``: list the audit trail's events and verify its hash chain (auditors, admins).

The trail spans every product, so only callers whose scope is every product may read it.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from medwarden.api.deps import StoreDep, require
from medwarden.api.pagination import Pagination, paginate
from medwarden.api.schemas.audit import AuditEventOut, VerificationOut
from medwarden.api.schemas.common import Page
from medwarden.audit.chain import Checkpoint
from medwarden.audit.model import AuditEvent
from medwarden.auth.model import Permission, Principal
from medwarden.errors import PermissionDeniedError, VerificationError
from medwarden.services.audit import verify

__all__ = ["router"]

router = APIRouter(prefix="/audit", tags=["audit"])

_Filter = Annotated[str | None, Query(min_length=1, max_length=200)]


def _auditor(principal: Annotated[Principal, Depends(require(Permission.READ_AUDIT))]) -> Principal:
    if principal.products is not None:
        raise PermissionDeniedError(
            "the audit trail spans every product; a product-scoped caller cannot read it"
        )
    return principal


Auditor = Annotated[Principal, Depends(_auditor)]


def _matching(
    events: Iterator[AuditEvent],
    subject_type: str | None,
    subject_id: str | None,
    action: str | None,
) -> Iterator[AuditEvent]:
    for event in events:
        if subject_type is not None and event.subject_type != subject_type:
            continue
        if subject_id is not None and event.subject_id != subject_id:
            continue
        if action is not None and event.action != action:
            continue
        yield event


@router.get("/events", response_model=Page[AuditEventOut], summary="List audit events")
def list_events(
    page: Pagination,
    store: StoreDep,
    _: Auditor,
    subject_type: _Filter = None,
    subject_id: _Filter = None,
    action: _Filter = None,
) -> Page[AuditEventOut]:
    """Events in ``seq`` order as stored (not verified), optionally filtered."""
    after = page.after(int)
    events = store.audit.events(after_seq=0 if after is None else int(after[0]))
    rows = list(islice(_matching(events, subject_type, subject_id, action), page.limit + 1))
    return paginate(rows, page, key=lambda e: (e.seq,), convert=AuditEventOut.of)


@router.get("/verify", response_model=VerificationOut, summary="Verify the audit trail")
def verify_trail(
    store: StoreDep,
    _: Auditor,
    checkpoint: Annotated[
        str | None,
        Query(max_length=100, description="COUNT:HASH recorded earlier (detects truncation)."),
    ] = None,
) -> VerificationOut:
    """Re-compute every event's hash and link; ``intact`` is false naming the first break."""
    expected = None if checkpoint is None else Checkpoint.parse(checkpoint)
    try:
        report = verify(store.audit, checkpoint=expected)
    except VerificationError as exc:
        return VerificationOut(intact=False, code=exc.code, detail=exc.message)
    return VerificationOut(
        intact=True,
        count=report.count,
        head=report.head,
        checkpoint=str(report.checkpoint),
        matches_checkpoint=None if expected is None else True,
    )
