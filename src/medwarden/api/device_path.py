"""The device ingest route's request path, ahead of the router.

Devices send many small requests (a record every few seconds each, thousands of devices
per server); the route's own work is a few hundred microseconds, and the router's
dependency solving and two thread-pool hops per request cost about as much again.
:class:`DeviceIngestPath` answers ``POST /api/v1/telemetry/records`` itself with the
route's own :func:`~medwarden.api.routers.telemetry.answer` -- a small batch of a device
whose credential this process knows awaits its group commit on the event loop, anything
else (a credential to look up, a large body) runs in a dedicated thread pool; every other
request passes on to the router untouched.

Nothing is skipped that the route has: the body limit and the security headers wrap this
middleware (it is the innermost one), authentication is the same device credential check
(:mod:`medwarden.api.deps`), and errors become the same problem-details responses
(:func:`~medwarden.api.problems.problem_for`).  The route stays in the router, so it is
in the OpenAPI document and in every route enumeration (``DEVICE_ROUTES``, the
no-therapy-control test), and behaves the same if reached there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from medwarden.api.deps import remembered_device
from medwarden.api.middleware import BodyLimitExceeded
from medwarden.api.problems import problem_for
from medwarden.api.routers.telemetry import INGEST_PATH, answer

__all__ = ["INGEST_THREADS", "DeviceIngestPath"]

INGEST_THREADS = 128
"""Threads per process for device batches that are not awaited on the event loop (see
:func:`~medwarden.api.routers.telemetry.answer`).  Such a batch's thread waits for its group
commit (``store/_group_commit.py``), so this bounds how many of them one transaction takes."""


class DeviceIngestPath:
    """ASGI middleware answering the device ingest route (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, threads: int = INGEST_THREADS) -> None:
        self.app = app
        self._threads = threads
        self._executor: ThreadPoolExecutor | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the device route; pass anything else on."""
        if scope["type"] != "http" or scope["path"] != INGEST_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            remembered_device(request)  # a missing or user credential is refused here
            response = await answer(request, self._run)
        except Exception as exc:  # the router's exception handlers would answer these
            if isinstance(exc, BodyLimitExceeded):
                raise  # BodySizeLimit (outside) answers 413
            response = await problem_for(request, exc)
        await response(scope, receive, send)

    async def _run(self, work: Callable[[], bytes]) -> bytes:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._threads, "medwarden-ingest")
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)
