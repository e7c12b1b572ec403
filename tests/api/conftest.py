"""API fixtures: an app over a store (each backend) with one user and token per role."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from medwarden.api.app import create_app
from medwarden.auth.model import Role
from medwarden.config import Settings
from medwarden.core.clock import FixedClock
from medwarden.services.auth import create_token, create_user
from medwarden.store import open_store
from tests.api.client import ApiClient
from tests.auth.conftest import FAST_HASHING, T0
from tests.store.conftest import store_url  # noqa: F401 - every backend

PASSWORD = "correct horse battery staple"

ROLE_USERS = {
    "admin": Role.ADMIN,
    "analyst": Role.SECURITY_ANALYST,
    "reader": Role.REGULATORY,
    "auditor": Role.AUDITOR,
}
"""The users every API test has, by name, with their one role."""


@dataclass
class Api:
    """A running app, its client, clock and store URL, and a token per user of ROLE_USERS."""

    app: Any
    client: ApiClient
    url: str
    clock: FixedClock
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> httpx.Response:
        """Send ``method path`` as user ``who`` (anonymous when None)."""
        token = None if who is None else self.tokens[who]
        return self.client.request(method, path, token=token, **kwargs)


def seed(url: str, clock: FixedClock) -> tuple[dict[str, str], dict[str, str]]:
    """Create one user and one 30-day token per role; return tokens and token ids by user."""
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    with open_store(url) as store:
        for name, role in ROLE_USERS.items():
            create_user(
                store.auth,
                name,
                roles=[role],
                password=PASSWORD,
                actor="setup",
                clock=clock,
                hashing=FAST_HASHING,
            )
            issued = create_token(
                store.auth,
                owner=name,
                name=f"{name}-token",
                roles=[role],
                lifetime=timedelta(days=30),
                actor="setup",
                clock=clock,
            )
            tokens[name] = issued.plaintext
            ids[name] = issued.token.token_id
    return tokens, ids


_LEDGER_KEYS = Path(tempfile.mkdtemp(prefix="medwarden-api-tests-"))


def start(url: str, clock: FixedClock, **settings: Any) -> tuple[Any, ApiClient]:
    """Build an app over ``url`` with settings overrides; the client is not entered yet.

    The ledger key lives in a temporary directory (never the user data directory)."""
    settings.setdefault("ledger_key", str(_LEDGER_KEYS / "ledger-ed25519.pem"))
    app = create_app(Settings(db=url, db_source="option", **settings), clock=clock)
    return app, ApiClient(app)


@pytest.fixture
def api(store_url: str) -> Iterator[Api]:  # noqa: F811 - the imported fixture
    """A running app over a seeded store, on each backend, with a clock at T0."""
    clock = FixedClock(T0)
    tokens, ids = seed(store_url, clock)
    app, client = start(store_url, clock)
    with client:
        yield Api(app=app, client=client, url=store_url, clock=clock, tokens=tokens, token_ids=ids)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check an RFC 9457 problem response; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:medwarden:problem:{code}"
    assert body["title"]
    assert body["instance"] == response.request.url.path
    return body
