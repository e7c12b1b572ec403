"""RFC 9457 problem details: the one error mapping, HTTP-level errors, hidden server errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Depends

from medwarden.api.deps import require, require_product
from medwarden.api.problems import status_for
from medwarden.auth.model import Permission, Principal, Role
from medwarden.core.clock import FixedClock
from medwarden.errors import (
    AccessError,
    AuthenticationError,
    ConfigError,
    ConflictError,
    InputError,
    InputTooLargeError,
    IntelParseError,
    MatchError,
    MedwardenError,
    NotFoundError,
    PermissionDeniedError,
    RuleViolationError,
    SbomSchemaError,
    StoreError,
    StoreSchemaError,
    UsageError,
    VerificationError,
)
from medwarden.services.auth import create_token, create_user
from medwarden.store import open_store
from tests.api.client import ApiClient
from tests.api.conftest import Api, assert_problem, seed, start
from tests.auth.conftest import T0, add_product


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFoundError, 404),
        (ConflictError, 409),
        (RuleViolationError, 422),
        (UsageError, 400),
        (InputTooLargeError, 413),
        (InputError, 422),
        (SbomSchemaError, 422),
        (IntelParseError, 422),
        (AuthenticationError, 401),
        (PermissionDeniedError, 403),
        (AccessError, 403),
        (StoreError, 503),
        (StoreSchemaError, 503),
        (ConfigError, 500),
        (VerificationError, 500),
        (MatchError, 500),
        (MedwardenError, 500),
    ],
)
def test_the_one_mapping(error: type[MedwardenError], status: int) -> None:
    """Every class of the error tree has its HTTP status."""
    assert status_for(error("x")) == status


ProductReader = Annotated[Principal, Depends(require_product(Permission.READ))]
AuditReader = Annotated[Principal, Depends(require(Permission.READ_AUDIT))]


@pytest.fixture
def raising(tmp_path: Path) -> Iterator[tuple[ApiClient, str]]:
    """An app with extra routes that raise, and a scoped analyst token (SQLite)."""
    url = str(tmp_path / "m.db")
    clock = FixedClock(T0)
    tokens, _ids = seed(url, clock)
    with open_store(url) as store:
        add_product(store, "pump")
        add_product(store, "monitor")
        create_user(
            store.auth,
            "scoped",
            roles=[Role.SECURITY_ANALYST],
            products=["pump"],
            actor="setup",
            clock=clock,
        )
        scoped = create_token(
            store.auth,
            owner="scoped",
            name="t",
            roles=[Role.SECURITY_ANALYST],
            lifetime=timedelta(days=10),
            actor="setup",
            clock=clock,
        ).plaintext
    app, _client = start(url, clock)

    def boom() -> None:
        raise RuntimeError("secret internals: /etc/medwarden password=hunter2")

    def store_down() -> None:
        raise StoreError("query failed on postgresql://medwarden:***@db.internal/medwarden")

    def conflict() -> None:
        raise ConflictError("already there", hint="pick another", details=("a", "b"))

    def product_read(slug: str, who: ProductReader) -> str:
        return f"{who.name} reads {slug}"

    def audit_only(who: AuditReader) -> str:
        return who.name

    app.add_api_route("/api/v1/test/boom", boom)
    app.add_api_route("/api/v1/test/store", store_down)
    app.add_api_route("/api/v1/test/conflict", conflict)
    app.add_api_route("/api/v1/test/products/{slug}", product_read)
    app.add_api_route("/api/v1/test/audit-only", audit_only)
    with ApiClient(app, raise_app_exceptions=False) as client:
        yield client, tokens["admin"] + " " + scoped


def test_unknown_routes_and_methods_are_problems(api: Api) -> None:
    """404 for an unknown path, 405 (with Allow) for a wrong method; no token needed to learn it."""
    assert_problem(api.call("GET", "/api/v1/no-such-thing"), 404, "MW003")
    assert_problem(api.call("GET", "/elsewhere"), 404, "MW003")
    response = api.call("DELETE", "/api/v1/health")
    assert_problem(response, 405, "MW001")
    assert response.headers["allow"] == "GET"


def test_validation_errors_list_where_but_never_echo_input(api: Api) -> None:
    """422 with loc/msg/type per issue; the refused values are not repeated."""
    secret = "s3cret-" + "p" * 2000
    response = api.call(
        "POST",
        "/api/v1/users",
        "admin",
        json={"name": "bob", "roles": ["root"], "password": secret},
    )
    body = assert_problem(response, 422, "MW001")
    locations = {tuple(issue["loc"]) for issue in body["errors"]}
    assert ("body", "roles", 0) in locations
    assert ("body", "password") in locations
    assert "s3cret" not in response.text
    assert "root" not in response.text.replace("roles", "")
    broken = api.call(
        "POST",
        "/api/v1/users",
        "admin",
        content=b'{"name": ',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(broken, 422, "MW001")


def test_domain_errors_are_mapped(api: Api) -> None:
    """NotFound 404, Conflict 409, RuleViolation 422, Usage 400: each with its code and detail."""
    missing = assert_problem(api.call("GET", "/api/v1/users/nobody", "admin"), 404, "MW003")
    assert missing["detail"] == "there is no user 'nobody'"
    duplicate = api.call(
        "POST", "/api/v1/users", "admin", json={"name": "reader", "roles": ["auditor"]}
    )
    assert_problem(duplicate, 409, "MW004")
    weak = api.call(
        "POST",
        "/api/v1/users",
        "admin",
        json={"name": "w", "roles": ["auditor"], "password": "short"},
    )
    assert "shorter than 12" in assert_problem(weak, 422, "MW005")["detail"]
    assert_problem(api.call("GET", "/api/v1/users?cursor=@@@", "admin"), 400, "MW001")


def test_unexpected_errors_are_500_without_details(raising: tuple[ApiClient, str]) -> None:
    """A bug is a 500 problem (MW000) that leaks nothing of the exception."""
    client, tokens = raising
    response = client.get("/api/v1/test/boom", token=tokens.split()[0])
    body = assert_problem(response, 500, "MW000")
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert body["detail"] == "an unexpected error occurred; it was logged"


def test_store_errors_are_503_without_the_database_url(raising: tuple[ApiClient, str]) -> None:
    """A store failure is 503 (MW300) and does not name the database host."""
    client, tokens = raising
    response = client.get("/api/v1/test/store", token=tokens.split()[0])
    assert_problem(response, 503, "MW300")
    assert "db.internal" not in response.text


def test_hints_and_details_are_extension_members(raising: tuple[ApiClient, str]) -> None:
    """A client error carries its hint and details."""
    client, tokens = raising
    body = assert_problem(
        client.get("/api/v1/test/conflict", token=tokens.split()[0]), 409, "MW004"
    )
    assert body["hint"] == "pick another"
    assert body["details"] == ["a", "b"]


def test_product_scope_checks_answer_403(raising: tuple[ApiClient, str]) -> None:
    """require_product: in scope 200, out of scope 403 (not 404), unscoped callers anywhere."""
    client, tokens = raising
    admin, scoped = tokens.split()
    assert client.get("/api/v1/test/products/pump", token=scoped).json() == "scoped reads pump"
    denied = client.get("/api/v1/test/products/monitor", token=scoped)
    assert "may not access product 'monitor'" in assert_problem(denied, 403, "MW502")["detail"]
    assert client.get("/api/v1/test/products/monitor", token=admin).status_code == 200
    assert_problem(client.get("/api/v1/test/audit-only", token=scoped), 403, "MW502")
    assert client.get("/api/v1/test/audit-only", token=admin).json() == "admin"
    assert_problem(client.get("/api/v1/test/products/pump"), 401, "MW501")


def test_responses_are_not_cached(api: Api) -> None:
    """Every response says no-store and nosniff (tokens and private data pass through)."""
    for response in (api.call("GET", "/api/v1/health"), api.call("GET", "/api/v1/me", "admin")):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
