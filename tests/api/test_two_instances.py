"""Two API processes over one database behave as one: no state lives in the app.

Two apps, each with its own SqlStore (own engine, own connections), stand in for two
``uvicorn`` worker processes; what one does, the other sees on the next request.
"""

from __future__ import annotations

from tests.api.conftest import Api, assert_problem, start


def test_tokens_users_and_revocations_are_shared_at_once(api: Api) -> None:
    """A token made through one app works on the other; revocation and disabling too."""
    _other_app, other = start(api.url, api.clock)
    with other:
        body = {"name": "shared", "roles": ["security_analyst"], "expires_in_days": 3}
        made = api.call("POST", "/api/v1/tokens", "analyst", json=body).json()
        token = made["token"]
        assert other.get("/api/v1/me", token=token).json()["token_id"] == made["token_id"]

        revoked = other.delete(f"/api/v1/tokens/{made['token_id']}", token=token)
        assert revoked.json()["state"] == "revoked"
        assert_problem(api.client.get("/api/v1/me", token=token), 401, "MW501")

        created = other.post(
            "/api/v1/users",
            token=api.tokens["admin"],
            json={"name": "olga", "roles": ["auditor"]},
        )
        assert created.status_code == 201
        assert api.call("GET", "/api/v1/users/olga", "admin").json()["name"] == "olga"

        other.patch("/api/v1/users/reader", token=api.tokens["admin"], json={"disabled": True})
        assert_problem(api.call("GET", "/api/v1/me", "reader"), 401, "MW501")

        first = api.call("GET", "/api/v1/audit/verify", "auditor").json()
        second = other.get("/api/v1/audit/verify", token=api.tokens["auditor"]).json()
        assert first == second
        assert first["intact"] is True
