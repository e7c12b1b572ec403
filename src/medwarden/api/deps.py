"""Dependencies of every route: the store, the clock, settings, and who is calling.

Authentication is Bearer tokens only (``Authorization: Bearer mwt_<id>_<secret>``).
The app installs :func:`authenticate_unless_public` as a *global* dependency, so every
route, including routers added later, requires a valid token unless its path is in
:data:`PUBLIC_ROUTES` — the one, explicit allow-list.  Routes then declare what they
need::

    @router.post("/products/{slug}/releases")
    def add_release(slug: str, principal: Annotated[Principal, Depends(
        require_product(Permission.MANAGE_PORTFOLIO))], store: StoreDep) -> ...

:func:`require` checks a permission; :func:`require_product` also checks that the path's
product is in the caller's scope (403 otherwise; see
:meth:`~medwarden.auth.model.Principal.check_product` for why not 404).

Everything here reads ``app.state`` (the one store, the clock, the settings) or the
database.  The one cache, :class:`DeviceCredentials`, only saves a read: what it answers
is confirmed inside the ingest transaction, so several API processes behave identically.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Annotated, Any

import fastapi.routing
from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from medwarden.auth.model import Permission, Principal
from medwarden.config import Settings
from medwarden.core.clock import Clock
from medwarden.errors import AuthenticationError
from medwarden.services.auth import authenticate
from medwarden.services.telemetry import authenticate_device
from medwarden.store.intel_repository import SqlStore
from medwarden.telemetry.devices import CREDENTIAL_PREFIX, credential_digest
from medwarden.telemetry.receipts import ReceiptSigner

__all__ = [
    "API_PREFIX",
    "DEVICE_ROUTES",
    "OPENAPI_URL",
    "PUBLIC_ROUTES",
    "Authenticated",
    "ClockDep",
    "DeviceCredentials",
    "DeviceDep",
    "SettingsDep",
    "SignerDep",
    "StoreDep",
    "authenticate_unless_public",
    "current_device",
    "current_principal",
    "device_route_ids",
    "effective_routes",
    "get_clock",
    "get_settings",
    "get_signer",
    "get_store",
    "public_route_ids",
    "remembered_device",
    "require",
    "require_product",
]

API_PREFIX = "/api/v1"
"""Where every route lives."""

OPENAPI_URL = f"{API_PREFIX}/openapi.json"
"""The published OpenAPI document."""

PUBLIC_ROUTES: frozenset[str] = frozenset(
    {
        f"{API_PREFIX}/health",
        OPENAPI_URL,
        # The SBOM link of products that publish their SBOMs (REQUIREMENTS 6); the route
        # answers 404 for every product that does not.
        f"{API_PREFIX}/public/products/{{slug}}/releases/{{version}}/sbom",
    }
)
"""Path templates served without a token; everything else needs one.

Add a public route (such as a public SBOM or advisory link) here, deliberately; the
security test suite enumerates ``app.routes`` and checks every other one refuses
anonymous callers."""

DEVICE_ROUTES: frozenset[str] = frozenset({f"{API_PREFIX}/telemetry/records"})
"""Path templates that devices call with their own credential (``Bearer mwd_...``).

Only these accept device credentials, and they accept nothing else: a user's API token
cannot submit telemetry and a device credential opens no other route.  A device route
knows its caller from :class:`DeviceCredentials` and must confirm the credential in the
transaction that acts on it (``credential_sha256=`` of ingest)."""


class DeviceCredentials:
    """Which device a credential digest named when the registry last said so (per process).

    Device requests are many and small; reading the registry for each would be a read
    transaction per record.  An entry only names a device: ingest confirms, inside its
    write transaction, that the digest is still that device's credential and the device
    active, and the route forgets the entry when it is not (a replaced or retired
    credential is refused at once, in every process)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._by_digest: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> str | None:
        """The device ``digest`` named, if remembered."""
        return self._by_digest.get(digest)

    def remember(self, digest: str, device_id: str) -> None:
        """Remember an answer of the registry (the oldest entry goes when full)."""
        with self._lock:
            if len(self._by_digest) >= self._capacity and digest not in self._by_digest:
                self._by_digest.pop(next(iter(self._by_digest)), None)
            self._by_digest[digest] = device_id

    @property
    def capacity(self) -> int:
        """The most entries kept."""
        return self._capacity

    def prime(self, entries: Iterable[tuple[str, str]]) -> None:
        """Remember (digest, device) pairs read from the registry, e.g. at start-up, so a
        device's first request after a restart needs no registry read either."""
        for digest, device_id in entries:
            self.remember(digest, device_id)

    def forget(self, digest: str) -> None:
        """Drop ``digest`` (its device refused it)."""
        with self._lock:
            self._by_digest.pop(digest, None)


_BEARER = "bearer"


def get_store(request: Request) -> SqlStore:
    """The app's store (opened once per app, in its lifespan)."""
    store: SqlStore = request.app.state.store
    return store


def get_clock(request: Request) -> Clock:
    """The app's clock."""
    clock: Clock = request.app.state.clock
    return clock


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[SqlStore, Depends(get_store)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _bearer_token(request: Request) -> str:
    """The token of the request's only ``Authorization: Bearer ...`` header."""
    values = request.headers.getlist("authorization")
    if not values:
        raise AuthenticationError(
            "authentication required", hint="send Authorization: Bearer <API token>"
        )
    if len(values) > 1:
        raise AuthenticationError("more than one Authorization header")
    scheme, _, token = values[0].partition(" ")
    if scheme.lower() != _BEARER or not token or token != token.strip():
        raise AuthenticationError(
            "the Authorization header is not 'Bearer <API token>'",
            hint="medwarden accepts API tokens only (create one with `medwarden token create`)",
        )
    return token


def _authenticate(request: Request) -> Principal:
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    principal = authenticate(
        get_store(request).auth, _bearer_token(request), clock=get_clock(request)
    )
    request.state.principal = principal
    return principal


def effective_routes(app: FastAPI) -> list[tuple[str, frozenset[str], BaseRoute]]:
    """Every route of ``app`` as (full path template, methods, route object).

    FastAPI 0.165 keeps included routers as one entry of ``app.routes`` each and serves
    their routes with the router's own route objects; earlier versions copied them
    into ``app.routes`` with the prefix applied.  Both are handled here."""
    iterate: Any = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:  # pragma: no cover - FastAPI before 0.165
        contexts = [(r, r) for r in app.routes]
    else:
        contexts = [(c, c.original_route) for c in iterate(app.routes)]
    found = []
    for context, route in contexts:
        path = getattr(context, "path_format", None) or getattr(context, "path", None)
        if isinstance(path, str):
            methods = frozenset(getattr(context, "methods", None) or ())
            found.append((path, methods, route))
    return found


def device_route_ids(app: FastAPI) -> frozenset[int]:
    """The ``id`` of each route object whose path is in :data:`DEVICE_ROUTES`."""
    found = {path: r for path, _m, r in effective_routes(app) if path in DEVICE_ROUTES}
    if DEVICE_ROUTES - found.keys():
        raise RuntimeError(
            f"DEVICE_ROUTES names missing routes: {sorted(DEVICE_ROUTES - found.keys())}"
        )
    return frozenset(id(route) for route in found.values())


def public_route_ids(app: FastAPI) -> frozenset[int]:
    """The ``id`` of each route object whose path is in :data:`PUBLIC_ROUTES` (each must exist).

    Ids, because Starlette routes compare by value and are not hashable; the app keeps
    its routes alive, so the ids stay valid."""
    public = {
        path: route for path, _methods, route in effective_routes(app) if path in PUBLIC_ROUTES
    }
    missing = PUBLIC_ROUTES - public.keys()
    if missing:
        raise RuntimeError(f"PUBLIC_ROUTES names routes that do not exist: {sorted(missing)}")
    return frozenset(id(route) for route in public.values())


def _route_path(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path_format", None) or request.url.path)


async def authenticate_unless_public(request: Request) -> None:
    """The app-wide dependency: authenticate the caller unless the route is public.

    Device routes (:data:`DEVICE_ROUTES`) authenticate a device credential instead.  The
    app computes its public and device route objects once, when it is built
    (:func:`public_route_ids`, kept on ``app.state``).  Database reads run in the thread
    pool; a device credential found in :class:`DeviceCredentials` needs none."""
    route = id(request.scope.get("route"))
    if route in request.app.state.public_routes:
        return
    if route in request.app.state.device_routes:
        if remembered_device(request) is None:
            await run_in_threadpool(_authenticate_device, request)
        return
    await run_in_threadpool(_authenticate, request)


def _device_token(request: Request) -> str:
    token = _bearer_token(request)
    if not token.startswith(CREDENTIAL_PREFIX):
        raise AuthenticationError(
            "this route accepts device credentials only",
            hint="devices send Authorization: Bearer mwd_... (medwarden device credential)",
        )
    return token


def remembered_device(request: Request) -> str | None:
    """The device of the request's credential if :class:`DeviceCredentials` knows it."""
    digest = credential_digest(_device_token(request))
    device_id = device_credentials(request).get(digest)
    if device_id is not None:
        request.state.device_id = device_id
        request.state.device_credential = digest
    return device_id


def _authenticate_device(request: Request) -> str:
    cached = getattr(request.state, "device_id", None)
    if isinstance(cached, str):
        return cached
    token = _device_token(request)
    device_id = authenticate_device(get_store(request).devices, token)
    digest = credential_digest(token)
    device_credentials(request).remember(digest, device_id)
    request.state.device_id = device_id
    request.state.device_credential = digest
    return device_id


def current_device(request: Request) -> str:
    """The authenticated device of a device route."""
    return _authenticate_device(request)


def known_device(request: Request) -> tuple[str, str] | None:
    """(device, credential SHA-256) when the request's device is authenticated already
    (by :func:`remembered_device` or the route dependency), without reading anything."""
    device_id = getattr(request.state, "device_id", None)
    if not isinstance(device_id, str):
        return None
    digest: str = request.state.device_credential
    return device_id, digest


def device_credentials(request: Request) -> DeviceCredentials:
    """The app's :class:`DeviceCredentials`."""
    found: DeviceCredentials = request.app.state.device_credentials
    return found


def get_signer(request: Request) -> ReceiptSigner:
    """The server's receipt and checkpoint signer (loaded once per app)."""
    signer: ReceiptSigner = request.app.state.signer
    return signer


DeviceDep = Annotated[str, Depends(current_device)]
SignerDep = Annotated[ReceiptSigner, Depends(get_signer)]


def current_principal(request: Request) -> Principal:
    """The authenticated caller (authenticated once per request)."""
    return _authenticate(request)


Authenticated = Annotated[Principal, Depends(current_principal)]
"""Any authenticated caller, whatever its permissions."""


def require(permission: Permission) -> Callable[[Principal], Principal]:
    """A dependency returning the caller if it holds ``permission`` (403 otherwise)."""

    def dependency(principal: Authenticated) -> Principal:
        principal.require(permission)
        return principal

    dependency.__name__ = f"require_{permission.value}"
    return dependency


def require_product(
    permission: Permission, *, parameter: str = "slug"
) -> Callable[[Request, Principal], Principal]:
    """Like :func:`require`, and the product named by path parameter ``parameter`` must be
    in the caller's scope (403 otherwise, never 404: see ``docs/adr/0008-auth-and-api.md``)."""

    def dependency(request: Request, principal: Authenticated) -> Principal:
        principal.require(permission)
        slug = request.path_params.get(parameter)
        if not isinstance(slug, str):
            raise RuntimeError(f"route {_route_path(request)} has no path parameter {parameter}")
        principal.check_product(slug)
        return principal

    dependency.__name__ = f"require_product_{permission.value}"
    return dependency
