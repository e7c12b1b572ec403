"""The FastAPI application: :func:`create_app` builds it from :class:`~medwarden.config.Settings`.

One app holds exactly one open :class:`~medwarden.store.SqlStore` (opened in the
lifespan, closed at shutdown) plus its settings and clock on ``app.state``; there is
no other in-process state.  Tokens, users and everything else live in the database,
so any number of API processes over one database behave identically
(``medwarden serve --workers N`` runs N of them from :func:`create_app_from_environment`).

Layers, outermost first: security headers, the request body limit (413 problems),
problem details for every error, the app-wide authentication dependency, then the
routers of :data:`medwarden.api.routers.ROUTERS` under ``/api/v1``.  The OpenAPI
document is published at ``/api/v1/openapi.json``, with the bearer scheme on every
non-public operation; there is no interactive documentation page (it would load
scripts from a CDN).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from medwarden import __version__
from medwarden.api.deps import (
    API_PREFIX,
    OPENAPI_URL,
    PUBLIC_ROUTES,
    DeviceCredentials,
    authenticate_unless_public,
    device_route_ids,
    public_route_ids,
)
from medwarden.api.device_path import DeviceIngestPath
from medwarden.api.middleware import BodySizeLimit, SecurityHeaders
from medwarden.api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_RESPONSES, install_problem_handlers
from medwarden.api.routers import ROUTERS
from medwarden.config import Settings, load_settings
from medwarden.core.clock import Clock, SystemClock
from medwarden.keys import load_or_create_signer
from medwarden.store.db import open_store
from medwarden.telemetry.devices import public_key_to_bytes

__all__ = ["create_app", "create_app_from_environment"]

_DESCRIPTION = """Post-market cybersecurity for connected medical devices.

Authenticate with `Authorization: Bearer mwt_<token_id>_<secret>` (create a token with
`medwarden token create` or `POST /api/v1/tokens`).  Errors are RFC 9457 problem
details (`application/problem+json`) with a stable medwarden `code`.  Lists are
cursor-paginated: `limit` (1-500) and `cursor`, answered with `next_cursor` and a
`Link: <...>; rel="next"` header."""


def create_app(settings: Settings, *, clock: Clock | None = None, serving: bool = False) -> FastAPI:
    """Build the API over the store ``settings.db`` names (it must exist: ``create=False``).

    ``serving``: the app is what this process is for (``medwarden serve``), so its
    start-up heap is frozen out of garbage collection once started."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(settings.db, create=False)
        app.state.store = store
        signer = load_or_create_signer(settings.ledger_key_path)
        store.ledger.register_server_key(
            signer.key_id, public_key_to_bytes(signer.key.public_key()), at=app.state.clock.now()
        )
        app.state.signer = signer
        if serving:
            # Devices reconnecting after a restart all arrive at once; each cache miss
            # would cost a registry read in a thread (docs/adr/0015).
            credentials: DeviceCredentials = app.state.device_credentials
            credentials.prime(store.devices.active_credentials(credentials.capacity))
            # Everything built so far lives as long as the process: keep it out of the
            # cyclic collector's scans, whose full passes over it stalled requests for
            # ~0.1 s (docs/adr/0014-ingest-hot-path.md).
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            store.close()

    app = FastAPI(
        title="medwarden",
        version=__version__,
        description=_DESCRIPTION,
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(authenticate_unless_public)],
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    install_problem_handlers(app)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX, responses=PROBLEM_RESPONSES)
    app.state.public_routes = public_route_ids(app)
    app.state.device_routes = device_route_ids(app)
    app.state.device_credentials = DeviceCredentials()
    app.add_middleware(DeviceIngestPath)  # innermost: inside the body limit and headers
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(SecurityHeaders)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _openapi_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
    return app


def create_app_from_environment() -> FastAPI:
    """The app of one ``medwarden serve --workers N`` process (settings from the environment)."""
    return create_app(load_settings(), serving=True)


def _openapi_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the bearer scheme and problem+json error bodies."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "mwt_<token_id>_<secret>",
    }
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            if path not in PUBLIC_ROUTES:
                operation["security"] = [{"bearerAuth": []}]
            else:
                for status in ("401", "403"):
                    operation.get("responses", {}).pop(status, None)
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[:1] in {"4", "5"} and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    return document
