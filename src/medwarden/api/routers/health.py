"""``GET /api/v1/health``: the one public route; answers only whether the database answers."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from medwarden.api.deps import StoreDep

__all__ = ["Health", "router"]

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """The service and its database are up."""

    status: str = "ok"


@router.get("/health", response_model=Health, summary="Liveness and database check (public)")
def health(store: StoreDep) -> Health:
    """``ok`` when the database answers (a 503 problem otherwise); reveals nothing else."""
    store.audit.head()
    return Health()
