"""``/api/v1/warnings``: the early warnings of the telemetry checks, and acknowledging them.

Reads need ``read``; acknowledging needs ``triage`` and is audited
(``telemetry.warning_acknowledge``).  Lists are newest first, keyset-paginated by id.
Nothing here changes what a device does: medwarden only monitors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from medwarden.api.deps import ClockDep, StoreDep, require
from medwarden.api.pagination import Pagination, paginate
from medwarden.api.schemas.common import Page
from medwarden.api.schemas.warnings import AcknowledgeIn, WarningOut
from medwarden.auth.model import Permission, Principal
from medwarden.services.telemetry_checks import WarningQuery, WarningState, acknowledge_warning
from medwarden.telemetry.checks import Severity

__all__ = ["router"]

router = APIRouter(tags=["warnings"])

Reader = Annotated[Principal, Depends(require(Permission.READ))]
Triager = Annotated[Principal, Depends(require(Permission.TRIAGE))]
WarningId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/warnings", response_model=Page[WarningOut], summary="List early warnings")
def list_warnings(
    page: Pagination,
    store: StoreDep,
    _: Reader,
    device_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    severity: Annotated[Severity | None, Query(description="Exactly this severity.")] = None,
    state: WarningState | None = None,
    since: Annotated[
        datetime | None, Query(description="Established at or after (with time zone).")
    ] = None,
) -> Page[WarningOut]:
    """Early warnings, newest first; filters combine."""
    after = page.after(int)
    query = WarningQuery(device_id=device_id, severity=severity, state=state, since=since)
    rows = store.warnings.list_warnings(
        query, before=None if after is None else int(after[0]), limit=page.limit + 1
    )
    return paginate(rows, page, key=lambda w: (w.id,), convert=WarningOut.of)


@router.get("/warnings/{warning_id}", response_model=WarningOut, summary="Show an early warning")
def show_warning(warning_id: WarningId, store: StoreDep, _: Reader) -> WarningOut:
    """One early warning."""
    return WarningOut.of(store.warnings.get(warning_id))


@router.post(
    "/warnings/{warning_id}/acknowledge",
    response_model=WarningOut,
    summary="Acknowledge an early warning",
)
def acknowledge(
    warning_id: WarningId,
    body: AcknowledgeIn,
    principal: Triager,
    store: StoreDep,
    clock: ClockDep,
) -> WarningOut:
    """Record that a person looked at an open warning, with a note (409 if already done)."""
    done = acknowledge_warning(
        store.warnings, warning_id, actor=principal.actor, note=body.note, clock=clock
    )
    return WarningOut.of(done)
