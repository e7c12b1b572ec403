"""A synchronous test client over httpx's ASGITransport, with the app's lifespan.

``starlette.testclient`` warns that it wants ``httpx2`` (and the suite turns warnings
into errors), so this small client runs the app and an ``httpx.AsyncClient`` on an
anyio blocking portal instead: tests stay synchronous, the app runs exactly as under
uvicorn (lifespan, middleware, threadpool for sync routes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from functools import partial
from types import TracebackType
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI

__all__ = ["ApiClient"]


class ApiClient:
    """Send requests to ``app`` from synchronous code; ``token`` becomes a Bearer header."""

    def __init__(self, app: FastAPI, *, raise_app_exceptions: bool = True) -> None:
        self.app = app
        self._raise = raise_app_exceptions
        self._stack = ExitStack()
        self._portal: BlockingPortal | None = None
        self._client: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=self._raise)
        async with (
            self.app.router.lifespan_context(self.app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        ):
            yield client

    def __enter__(self) -> ApiClient:
        """Start the app (its lifespan opens the store)."""
        self._portal = self._stack.enter_context(start_blocking_portal())
        self._client = self._stack.enter_context(
            self._portal.wrap_async_context_manager(self._running())
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the app (its lifespan closes the store)."""
        self._stack.close()

    def request(
        self, method: str, url: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send one request; with ``token``, as ``Authorization: Bearer <token>``."""
        if self._portal is None or self._client is None:
            raise RuntimeError("use the client in a `with` block")
        headers = httpx.Headers(kwargs.pop("headers", None))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        send = partial(self._client.request, method, url, headers=headers, **kwargs)
        return self._portal.call(send)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """``GET url``."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """``POST url``."""
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        """``PATCH url``."""
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        """``DELETE url``."""
        return self.request("DELETE", url, **kwargs)
