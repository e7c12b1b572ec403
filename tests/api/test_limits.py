"""The request body limit: announced by Content-Length or counted while streaming; 413 problems."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from medwarden.core.clock import FixedClock
from tests.api.client import ApiClient
from tests.api.conftest import assert_problem, seed, start
from tests.auth.conftest import T0

LIMIT = 2048
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def small(tmp_path: Path) -> Iterator[tuple[ApiClient, str]]:
    """An app accepting at most LIMIT bytes of body, and an admin token."""
    url = str(tmp_path / "m.db")
    clock = FixedClock(T0)
    tokens, _ = seed(url, clock)
    _app, client = start(url, clock, max_upload_bytes=LIMIT)
    with client:
        yield client, tokens["admin"]


async def chunks(total: int, size: int = 500) -> AsyncIterator[bytes]:
    """``total`` bytes of a JSON-ish body in ``size`` pieces (no Content-Length: chunked)."""
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        yield b" " * piece
        sent += piece


def test_an_announced_oversize_body_is_refused_unread(small: tuple[ApiClient, str]) -> None:
    """Content-Length over the limit: 413 problem (MW101) before authentication even runs."""
    client, token = small
    for who in (None, token):
        response = client.post("/api/v1/users", token=who, content=b"x" * (LIMIT + 1))
        body = assert_problem(response, 413, "MW101")
        assert str(LIMIT) in body["detail"]


def test_a_streamed_oversize_body_is_refused(small: tuple[ApiClient, str]) -> None:
    """Chunked bodies are counted as they arrive; past the limit the answer is 413."""
    client, token = small
    response = client.post(
        "/api/v1/users",
        token=token,
        content=chunks(LIMIT * 3),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "MW101")


def test_bodies_within_the_limit_pass(small: tuple[ApiClient, str]) -> None:
    """Exactly at the limit, announced or streamed, the request reaches the app."""
    client, token = small
    body = b'{"name": "pat", "roles": ["auditor"]}'
    padded = body + b" " * (LIMIT - len(body))
    assert (
        client.post(
            "/api/v1/users",
            token=token,
            content=padded,
            headers={"Content-Type": "application/json"},
        ).status_code
        == 201
    )

    async def streamed() -> AsyncIterator[bytes]:
        yield b'{"name": "quin", "roles": ["auditor"]}'
        yield b" " * 100

    response = client.post(
        "/api/v1/users",
        token=token,
        content=streamed(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("length", ["abc", "-1", "1, 2"])
def test_a_malformed_content_length_is_refused(small: tuple[ApiClient, str], length: str) -> None:
    """A Content-Length that is not one number is a 400 problem."""
    client, _ = small
    response = client.post("/api/v1/users", content=b"{}", headers={"Content-Length": length})
    assert_problem(response, 400, "MW001")
