"""``/api/v1/users``, ``/api/v1/me`` and ``/api/v1/tokens``: behaviour, rules and audit events."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from medwarden.auth.model import Role
from medwarden.auth.tokens import parse_token
from medwarden.services.auth import create_user
from medwarden.store import open_store
from tests.api.conftest import PASSWORD, Api, assert_problem
from tests.auth.conftest import T0, add_product


def events(api: Api, **filters: str) -> list[dict[str, Any]]:
    """The audit events (as the API lists them), filtered."""
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    response = api.call("GET", f"/api/v1/audit/events?limit=500&{query}", "admin")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_me(api: Api) -> None:
    """Each caller sees its name, roles, permissions, scope, token and expiry."""
    reader = api.call("GET", "/api/v1/me", "reader").json()
    assert reader == {
        "name": "reader",
        "roles": ["regulatory"],
        "permissions": ["read"],
        "products": None,
        "token_id": api.token_ids["reader"],
        "expires_at": "2026-12-25T09:00:00Z",
    }
    auditor = api.call("GET", "/api/v1/me", "auditor").json()
    assert auditor["permissions"] == ["read", "read_audit"]


def test_admins_create_and_list_users(api: Api) -> None:
    """The password is accepted, never returned, and missing from the audit trail."""
    body = {"name": "nora", "roles": ["regulatory", "auditor"], "password": PASSWORD}
    response = api.call("POST", "/api/v1/users", "admin", json=body)
    assert response.status_code == 201, response.text
    assert response.json() == {
        "name": "nora",
        "roles": ["auditor", "regulatory"],
        "products": None,
        "disabled": False,
        "has_password": True,
        "created_at": "2026-11-25T09:00:00Z",
    }
    assert PASSWORD not in response.text
    listed = api.call("GET", "/api/v1/users", "admin").json()["items"]
    assert [u["name"] for u in listed] == ["admin", "analyst", "auditor", "nora", "reader"]
    assert api.call("GET", "/api/v1/users/nora", "admin").json()["has_password"] is True
    (event,) = events(api, action="auth.user_create", subject_id="nora")
    assert event["actor"] == f"admin (token {api.token_ids['admin']})"
    assert PASSWORD not in json.dumps(event)
    assert "argon2" not in json.dumps(events(api))


def test_only_admins_manage_users(api: Api) -> None:
    """Analysts and auditors get 403 on every user route."""
    for who in ("analyst", "auditor"):
        assert_problem(api.call("GET", "/api/v1/users", who), 403, "MW502")
        assert_problem(api.call("GET", "/api/v1/users/reader", who), 403, "MW502")
        body = {"name": "x", "roles": ["auditor"]}
        assert_problem(api.call("POST", "/api/v1/users", who, json=body), 403, "MW502")


def test_scoped_users_need_existing_products(api: Api) -> None:
    """A product scope names existing products (404 otherwise)."""
    with open_store(api.url) as store:
        add_product(store, "pump")
    body = {"name": "sam", "roles": ["regulatory"], "products": ["pump"]}
    created = api.call("POST", "/api/v1/users", "admin", json=body)
    assert created.json()["products"] == ["pump"]
    body = {"name": "tim", "roles": ["regulatory"], "products": ["ventilator"]}
    assert_problem(api.call("POST", "/api/v1/users", "admin", json=body), 404, "MW003")


def test_disabling_a_user_stops_its_tokens(api: Api) -> None:
    """PATCH disabled=true: the user's token answers 401 at once; enabling restores it."""
    off = api.call("PATCH", "/api/v1/users/analyst", "admin", json={"disabled": True})
    assert off.json()["disabled"] is True
    assert_problem(api.call("GET", "/api/v1/me", "analyst"), 401, "MW501")
    api.call("PATCH", "/api/v1/users/analyst", "admin", json={"disabled": False})
    assert api.call("GET", "/api/v1/me", "analyst").status_code == 200
    actions = [e["action"] for e in events(api, subject_type="user", subject_id="analyst")]
    assert actions == ["auth.user_create", "auth.user_disable", "auth.user_enable"]
    mine = api.call("PATCH", "/api/v1/users/admin", "admin", json={"disabled": True})
    assert "yourself" in assert_problem(mine, 422, "MW005")["detail"]
    missing = api.call("PATCH", "/api/v1/users/nobody", "admin", json={"disabled": True})
    assert_problem(missing, 404, "MW003")


def test_callers_create_tokens_for_themselves(api: Api) -> None:
    """An analyst creates a token within its roles; the plaintext works and is shown once."""
    body = {"name": "ci", "roles": ["security_analyst"], "expires_in_days": 7}
    response = api.call("POST", "/api/v1/tokens", "analyst", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["owner"] == "analyst"
    assert created["state"] == "active"
    assert created["expires_at"] == "2026-12-02T09:00:00Z"
    plaintext = created["token"]
    assert plaintext.startswith(f"mwt_{created['token_id']}_")
    me = api.client.get("/api/v1/me", token=plaintext).json()
    assert me["token_id"] == created["token_id"]
    shown = api.call("GET", f"/api/v1/tokens/{created['token_id']}", "analyst")
    assert "token" not in shown.json()
    assert plaintext not in shown.text
    listed = api.call("GET", "/api/v1/tokens", "analyst").json()["items"]
    assert {t["name"] for t in listed} == {"analyst-token", "ci"}
    assert all("secret" not in json.dumps(t) for t in listed)
    (event,) = events(api, action="auth.token_create", subject_id=created["token_id"])
    secret = parse_token(plaintext).secret  # it may itself contain "_"
    assert secret not in json.dumps(events(api))
    assert event["after"]["roles"] == ["security_analyst"]


ANALYST = ["security_analyst"]


@pytest.mark.parametrize(
    ("who", "body", "status", "code"),
    [
        ("analyst", {"name": "x", "roles": ["admin"], "expires_in_days": 1}, 403, "MW502"),
        ("analyst", {"name": "x", "roles": ANALYST, "expires_in_days": 91}, 422, "MW005"),
        ("analyst", {"name": "x", "roles": ANALYST, "expires_in_days": 31}, 422, "MW005"),
        ("analyst", {"name": "x", "roles": [], "expires_in_days": 1}, 422, "MW001"),
        ("analyst", {"name": "x", "roles": ANALYST}, 422, "MW001"),
        ("analyst", {"name": "\t", "roles": ANALYST, "expires_in_days": 1}, 400, "MW001"),
        ("auditor", {"name": "x", "roles": ["auditor"], "expires_in_days": 1}, 403, "MW502"),
        ("reader", {"name": "x", "roles": ["regulatory"], "expires_in_days": 1}, 403, "MW502"),
    ],
)
def test_token_rules(api: Api, who: str, body: dict[str, Any], status: int, code: str) -> None:
    """Roles beyond one's own: 403; beyond the max lifetime or the creating token's: 422."""
    assert_problem(api.call("POST", "/api/v1/tokens", who, json=body), status, code)


def test_the_maximum_lifetime_is_a_setting(api: Api) -> None:
    """With MEDWARDEN_TOKEN_MAX_DAYS=5 (settings), 6 days is refused."""
    from tests.api.conftest import start

    _app, client = start(api.url, api.clock, token_max_days=5)
    with client:
        body = {"name": "x", "roles": ["admin"], "expires_in_days": 6}
        response = client.post("/api/v1/tokens", token=api.tokens["admin"], json=body)
        assert "at most 5 days" in assert_problem(response, 422, "MW005")["detail"]
        body["expires_in_days"] = 5
        assert (
            client.post("/api/v1/tokens", token=api.tokens["admin"], json=body).status_code == 201
        )


def test_scoped_callers_mint_scoped_tokens(api: Api) -> None:
    """A product-scoped analyst's token is scoped too; other products are refused."""
    with open_store(api.url) as store:
        add_product(store, "pump")
        add_product(store, "monitor")
        create_user(
            store.auth,
            "pam",
            roles=[Role.SECURITY_ANALYST],
            products=["pump"],
            actor="t",
            clock=api.clock,
        )
        from medwarden.services.auth import create_token

        pam = create_token(
            store.auth,
            owner="pam",
            name="t",
            roles=[Role.SECURITY_ANALYST],
            lifetime=timedelta(days=3),
            actor="t",
            clock=api.clock,
        ).plaintext
    body: dict[str, Any] = {"name": "n", "roles": ["security_analyst"], "expires_in_days": 1}
    made = api.client.post("/api/v1/tokens", token=pam, json=body).json()
    assert made["products"] == ["pump"]
    body["products"] = ["monitor"]
    assert_problem(api.client.post("/api/v1/tokens", token=pam, json=body), 403, "MW502")
    assert_problem(api.client.get("/api/v1/audit/events", token=pam), 403, "MW502")


def test_token_visibility_and_revocation(api: Api) -> None:
    """Own tokens only, unless admin; revoking stops a token at once; twice is harmless."""
    analyst_id, admin_id = api.token_ids["analyst"], api.token_ids["admin"]
    assert_problem(api.call("GET", "/api/v1/tokens?owner=admin", "analyst"), 403, "MW502")
    assert_problem(api.call("GET", "/api/v1/tokens?all=true", "analyst"), 403, "MW502")
    assert_problem(api.call("GET", f"/api/v1/tokens/{admin_id}", "analyst"), 403, "MW502")
    assert_problem(api.call("DELETE", f"/api/v1/tokens/{admin_id}", "analyst"), 403, "MW502")
    everyone = api.call("GET", "/api/v1/tokens?all=true", "admin").json()["items"]
    assert len(everyone) == 4
    theirs = api.call("GET", "/api/v1/tokens?owner=analyst", "admin").json()["items"]
    assert [t["token_id"] for t in theirs] == [analyst_id]
    assert_problem(api.call("DELETE", "/api/v1/tokens/ffffffffffffffff", "admin"), 404, "MW003")

    revoked = api.call("DELETE", f"/api/v1/tokens/{analyst_id}", "admin")
    assert revoked.json()["state"] == "revoked"
    assert revoked.json()["revoked_at"] == "2026-11-25T09:00:00Z"
    assert_problem(api.call("GET", "/api/v1/me", "analyst"), 401, "MW501")
    again = api.call("DELETE", f"/api/v1/tokens/{analyst_id}", "admin")
    assert again.status_code == 200
    assert len(events(api, action="auth.token_revoke")) == 1

    own = api.call("DELETE", f"/api/v1/tokens/{admin_id}", "admin")
    assert own.json()["state"] == "revoked"
    assert_problem(api.call("GET", "/api/v1/me", "admin"), 401, "MW501")


def test_expired_tokens_are_listed_as_expired(api: Api) -> None:
    """The state shown follows the clock."""
    body = {"name": "short", "roles": ["admin"], "expires_in_days": 1}
    made = api.call("POST", "/api/v1/tokens", "admin", json=body).json()
    api.clock.set(T0 + timedelta(days=2))
    shown = api.call("GET", f"/api/v1/tokens/{made['token_id']}", "admin").json()
    assert shown["state"] == "expired"
    assert shown["last_used_at"] is None
    assert (
        api.call("GET", f"/api/v1/tokens/{api.token_ids['admin']}", "admin").json()["last_used_at"]
        == "2026-11-27T09:00:00Z"
    )
