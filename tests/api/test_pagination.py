"""Keyset pagination: opaque cursors, the envelope, the Link header, bounds."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.api.pagination import decode_cursor, encode_cursor
from medwarden.auth.model import Role
from medwarden.errors import UsageError
from medwarden.services.auth import create_token, create_user
from medwarden.store import open_store
from tests.api.conftest import Api, assert_problem

positions = st.lists(
    st.text(max_size=20) | st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=3
).map(tuple)


@given(positions)
def test_cursors_round_trip(position: tuple[str | int, ...]) -> None:
    """A cursor decodes to the position it was made from, and is URL-safe."""
    cursor = encode_cursor(position)
    assert re.fullmatch(r"[A-Za-z0-9_-]*", cursor)
    assert decode_cursor(cursor) == position


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    ["@@@", "a", _b64(b"{}"), _b64(b"[]"), _b64(b"[true]"), _b64(b"[1.5]"), _b64(b"[null]")],
)
def test_foreign_cursors_are_usage_errors(cursor: str) -> None:
    """Anything this API did not hand out is refused (HTTP 400)."""
    with pytest.raises(UsageError, match="cursor"):
        decode_cursor(cursor)


def names(api: Api, url: str) -> tuple[list[str], list[str]]:
    """Follow the Link headers from ``url``; return the names seen and the cursors returned."""
    seen: list[str] = []
    cursors: list[str] = []
    while True:
        response = api.call("GET", url, "admin")
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [item["name"] for item in body["items"]]
        link = response.headers.get("link")
        if body["next_cursor"] is None:
            assert link is None
            return seen, cursors
        cursors.append(body["next_cursor"])
        match = re.fullmatch(r'<(http://testserver)?([^>]+)>; rel="next"', link or "")
        assert match is not None, link
        assert f"cursor={body['next_cursor']}" in match.group(2)
        url = match.group(2)


def test_users_page_by_name(api: Api) -> None:
    """limit=3 over 9 users: pages of 3 via Link headers, each user once, in name order."""
    with open_store(api.url) as store:
        for name in ("zoe", "bob", "carl", "dora", "ed"):
            create_user(store.auth, name, roles=[Role.AUDITOR], actor="t", clock=api.clock)
    seen, cursors = names(api, "/api/v1/users?limit=3")
    expected = ["admin", "analyst", "reader", "auditor", "zoe", "bob", "carl", "dora", "ed"]
    assert seen == sorted(expected)
    assert len(cursors) == 2  # 9 users, 3 a page: the third page ends exactly
    everything = api.call("GET", "/api/v1/users?limit=500", "admin").json()
    assert [u["name"] for u in everything["items"]] == seen
    assert everything["next_cursor"] is None


def test_tokens_page_by_creation_then_id(api: Api) -> None:
    """Tokens created at the same instant (fixed clock) still page exactly once each."""
    with open_store(api.url) as store:
        for number in range(6):
            create_token(
                store.auth,
                owner="admin",
                name=f"t{number}",
                roles=[Role.ADMIN],
                lifetime=timedelta(days=1),
                actor="t",
                clock=api.clock,
            )
    seen, _ = names(api, "/api/v1/tokens?limit=2&all=true")
    seeded = [f"{name}-token" for name in ("admin", "analyst", "reader", "auditor")]
    assert sorted(seen) == sorted(seeded + [f"t{n}" for n in range(6)])


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=x", "cursor=" + "a" * 600])
def test_bounds(api: Api, query: str) -> None:
    """limit is 1..500 and the cursor is short: anything else is a 422 validation problem."""
    assert_problem(api.call("GET", f"/api/v1/users?{query}", "admin"), 422, "MW001")


def test_a_cursor_of_another_list_is_refused(api: Api) -> None:
    """A users cursor (a name) on the audit list (a sequence number) is a 400."""
    cursor = encode_cursor(("alice",))
    response = api.call("GET", f"/api/v1/audit/events?cursor={cursor}", "admin")
    assert_problem(response, 400, "MW001")
    response = api.call("GET", f"/api/v1/tokens?cursor={cursor}", "admin")
    assert_problem(response, 400, "MW001")
    odd = encode_cursor(("not a time", "x"))
    assert_problem(api.call("GET", f"/api/v1/tokens?cursor={odd}", "admin"), 400, "MW001")
