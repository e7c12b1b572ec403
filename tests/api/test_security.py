"""Generic security checks over *every* route of the app, including routers added later.

The routes are enumerated from ``app.routes`` (with FastAPI's included routers
expanded), so a new router is covered without touching this file: anonymous callers
get 401 everywhere but :data:`PUBLIC_ROUTES`; a read-only (regulatory) token gets 403
on every write method; expired, revoked, disabled-owner and malformed credentials get 401.
"""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from medwarden.api.deps import DEVICE_ROUTES, PUBLIC_ROUTES, effective_routes
from medwarden.auth.tokens import generate_token
from medwarden.services.auth import revoke_token, set_disabled
from medwarden.store import open_store
from tests.api.conftest import Api, assert_problem
from tests.auth.conftest import T0

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def endpoints(api: Api) -> list[tuple[str, str]]:
    """Every (method, concrete path) the app serves; path parameters get a dummy value."""
    found = []
    for path, methods, _route in effective_routes(api.app):
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        found.extend((method, concrete) for method in sorted(methods - {"HEAD", "OPTIONS"}))
    return found


def protected(api: Api) -> list[tuple[str, str]]:
    """Every endpoint outside PUBLIC_ROUTES."""
    public = {re.sub(r"\{[^}]+\}", "x", p) for p in PUBLIC_ROUTES}
    return [(m, p) for m, p in endpoints(api) if p not in public]


def device_routes() -> set[str]:
    """The concrete paths devices call with their own credential."""
    return {re.sub(r"\{[^}]+\}", "x", p) for p in DEVICE_ROUTES}


def user_routes(api: Api) -> list[tuple[str, str]]:
    """Every protected endpoint that people (API tokens) call."""
    return [(m, p) for m, p in protected(api) if p not in device_routes()]


def assert_unauthenticated(response: httpx.Response) -> None:
    """401 problem with a Bearer challenge."""
    assert_problem(response, 401, "MW501")
    assert response.headers["www-authenticate"].startswith('Bearer realm="medwarden"')


def test_the_enumeration_covers_the_openapi_document(api: Api) -> None:
    """Every documented operation is among the enumerated routes (and there are some)."""
    document = api.call("GET", "/api/v1/openapi.json").json()
    documented = {
        (method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        for path, operations in document["paths"].items()
        for method in operations
    }
    enumerated = set(endpoints(api))
    assert documented <= enumerated
    assert len(protected(api)) >= 10
    assert any(method in WRITE_METHODS for method, _ in protected(api))


def test_every_protected_route_refuses_anonymous_callers(api: Api) -> None:
    """No token: 401 problem with ``WWW-Authenticate: Bearer`` on every non-public route."""
    for method, path in protected(api):
        response = api.call(method, path)
        assert_unauthenticated(response)
        assert "error=" not in response.headers["www-authenticate"]


def test_public_routes_answer_anonymous_callers(api: Api) -> None:
    """The allow-listed routes answer without a token."""
    for method, path in endpoints(api):
        if path in PUBLIC_ROUTES and method == "GET":
            assert api.call(method, path).status_code == 200, path


def test_a_reader_cannot_write_anywhere(api: Api) -> None:
    """A regulatory (read-only) token gets 403 on every POST/PUT/PATCH/DELETE."""
    writes = [(m, p) for m, p in user_routes(api) if m in WRITE_METHODS]
    assert writes
    for method, path in writes:
        assert_problem(api.call(method, path, "reader", json={}), 403, "MW502")


def test_a_reader_can_read(api: Api) -> None:
    """The same token is accepted (not 401) on reads, which shows the 403s are about writes."""
    assert api.call("GET", "/api/v1/me", "reader").status_code == 200
    assert api.call("GET", "/api/v1/tokens", "reader").status_code == 200


def test_an_expired_token_is_refused_everywhere(api: Api) -> None:
    """Once the clock passes the expiry, every protected route answers 401."""
    api.clock.set(T0 + timedelta(days=30))
    for method, path in user_routes(api):
        response = api.call(method, path, "admin")
        assert_unauthenticated(response)
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "expired" in api.call("GET", "/api/v1/me", "admin").json()["detail"]


def test_a_revoked_token_is_refused_everywhere(api: Api) -> None:
    """A revocation (through another store handle) takes effect on the next request."""
    with open_store(api.url) as store:
        revoke_token(store.auth, api.token_ids["admin"], actor="test", clock=api.clock)
    for method, path in user_routes(api):
        assert_unauthenticated(api.call(method, path, "admin"))


def test_a_disabled_owner_is_refused_everywhere(api: Api) -> None:
    """Disabling a user stops its tokens at once."""
    with open_store(api.url) as store:
        set_disabled(store.auth, "analyst", True, actor="test", clock=api.clock)
    for method, path in protected(api):
        assert_unauthenticated(api.call(method, path, "analyst"))


def _malformed(valid: str) -> list[str]:
    other = generate_token()
    return [
        "",
        "Bearer",
        "Bearer ",
        f"Bearer  {valid}",
        f"Bearer {valid} ",
        f"Basic {valid}",
        "Basic YWRtaW46cGFzc3dvcmQ=",
        valid,
        f"Token {valid}",
        f"Bearer {valid}x",
        f"Bearer {valid[:-1]}",
        f"Bearer {valid.upper()}",
        f"Bearer {valid} {valid}",
        f"Bearer {other.plaintext}",
        f"Bearer mwt_{valid[4:20]}_{other.secret}",
        "Bearer mwt_",
        "Bearer " + "a" * 5000,
    ]


def test_malformed_authorization_headers_are_refused(api: Api) -> None:
    """Wrong scheme, spacing, shape, secret or id: 401 on a protected route, never 500."""
    valid = api.tokens["admin"]
    for header in _malformed(valid):
        response = api.client.get("/api/v1/me", headers={"Authorization": header})
        assert_unauthenticated(response)
    doubled = api.client.request(
        "GET",
        "/api/v1/me",
        headers=[("Authorization", f"Bearer {valid}"), ("Authorization", f"Bearer {valid}")],
    )
    assert_unauthenticated(doubled)
    assert "more than one" in doubled.json()["detail"]


def test_the_scheme_name_is_case_insensitive(api: Api) -> None:
    """RFC 9110: ``bearer`` and ``BEARER`` work like ``Bearer``."""
    for scheme in ("bearer", "BEARER"):
        headers = {"Authorization": f"{scheme} {api.tokens['admin']}"}
        assert api.client.get("/api/v1/me", headers=headers).status_code == 200


@pytest.mark.parametrize("who", ["admin", "analyst", "reader", "auditor"])
def test_no_route_fails_with_a_server_error(api: Api, who: str) -> None:
    """Every route, called bare by each role, answers with a client status or success."""
    for method, path in endpoints(api):
        response = api.call(method, path, who, json={})
        assert response.status_code < 500, (method, path, response.text)
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"


def test_device_routes_refuse_user_tokens_and_user_routes_refuse_device_credentials(
    api: Api,
) -> None:
    """A person's API token cannot submit telemetry; a device credential opens nothing else."""
    assert device_routes()
    for path in device_routes():
        assert_unauthenticated(api.call("POST", path, "admin", json={"records": []}))
    for method, path in user_routes(api):
        assert_unauthenticated(api.client.request(method, path, token="mwd_" + "A" * 43))
