"""The body limit and security headers as plain ASGI middleware, around bare ASGI apps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from starlette.types import Receive, Scope, Send

from medwarden.api.app import create_app
from medwarden.api.middleware import BodySizeLimit, SecurityHeaders
from medwarden.config import Settings

LIMIT = 100


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole body, then answer with its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


async def eager(scope: Scope, receive: Receive, send: Send) -> None:
    """Start answering first, then read the body (a streaming endpoint)."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"started", "more_body": True})
    while True:
        message = await receive()
        if not message.get("more_body"):
            break
    await send({"type": "http.response.body", "body": b"done"})


async def stubborn(scope: Scope, receive: Receive, send: Send) -> None:
    """Swallow the failed read and answer anyway (its answer must not win)."""
    try:
        await receive()
        await receive()
    except Exception:  # noqa: S110 - a careless app, on purpose
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def body(total: int) -> AsyncIterator[bytes]:
    """``total`` bytes in 60-byte chunks."""
    for start in range(0, total, 60):
        yield b"x" * min(60, total - start)


def send(app: Any, content: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST ``content`` to ``app`` wrapped in the body limit."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=BodySizeLimit(app, max_bytes=LIMIT))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post("/upload", content=content, headers=headers)

    return anyio.run(go)


def test_within_the_limit_the_app_answers() -> None:
    """Announced or streamed, LIMIT bytes pass."""
    assert send(echo, b"x" * LIMIT).text == str(LIMIT)
    assert send(echo, body(LIMIT)).text == str(LIMIT)


def test_over_the_limit_the_app_is_replaced() -> None:
    """Streamed past the limit: 413 problem even if the app answers after the failed read."""
    for app in (echo, stubborn):
        response = send(app, body(LIMIT + 1))
        assert response.status_code == 413
        assert response.json()["code"] == "MW101"
        assert response.headers["content-type"] == "application/problem+json"


def test_an_answer_already_started_is_ended() -> None:
    """If the app answered before the limit was passed, its response is ended, not replaced."""
    response = send(eager, body(LIMIT * 2))
    assert response.status_code == 200
    assert response.content == b"started"


@pytest.mark.parametrize("lengths", [("10", "11"), ("x",)])
def test_ambiguous_lengths_are_refused(lengths: tuple[str, ...]) -> None:
    """Conflicting or non-numeric Content-Length headers: 400."""

    async def go() -> int:
        headers = [(b"content-length", value.encode()) for value in lengths]
        scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def capture(message: Any) -> None:
            sent.append(message)

        await BodySizeLimit(echo, max_bytes=LIMIT)(scope, receive, capture)
        return int(sent[0]["status"])

    assert anyio.run(go) == 400


def test_other_scopes_pass_through() -> None:
    """Lifespan and websocket scopes are not touched."""
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def go() -> None:
        async def nothing() -> dict[str, Any]:
            return {}

        async def ignore(message: Any) -> None:
            return None

        for wrapper in (BodySizeLimit(app, max_bytes=1), SecurityHeaders(app)):
            await wrapper({"type": "lifespan"}, nothing, ignore)

    anyio.run(go)
    assert seen == ["lifespan", "lifespan"]


def test_public_routes_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PUBLIC_ROUTES entry naming no route stops the app from being built."""
    import medwarden.api.deps as deps

    monkeypatch.setattr(deps, "PUBLIC_ROUTES", deps.PUBLIC_ROUTES | {"/api/v1/typo"})
    with pytest.raises(RuntimeError, match="/api/v1/typo"):
        create_app(Settings(db=":memory:", db_source="option"))
