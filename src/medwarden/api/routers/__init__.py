"""Every router of the API, registered in one place.

To add a router: write ``medwarden/api/routers/<area>.py`` with ``router = APIRouter(...)``
whose routes declare their permission (``Depends(require(Permission.X))`` or
``Depends(require_product(Permission.X))``, see :mod:`medwarden.api.deps`), then append
one line below.  Routes are mounted under ``/api/v1`` and need a token unless their
path is in :data:`medwarden.api.deps.PUBLIC_ROUTES`.
"""

from __future__ import annotations

from fastapi import APIRouter

from medwarden.api.routers import (
    audit,
    devices,
    evidence,
    findings,
    health,
    ledger,
    portfolio,
    support,
    telemetry,
    tokens,
    triage,
    users,
    warnings,
)

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [
    health.router,
    users.router,
    tokens.router,
    audit.router,
    portfolio.router,
    support.router,
    evidence.router,
    findings.router,
    triage.router,
    devices.router,
    ledger.router,
    telemetry.router,
    warnings.router,
]
"""The routers :func:`medwarden.api.app.create_app` mounts, in this order."""
