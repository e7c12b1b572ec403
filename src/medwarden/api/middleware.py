"""Pure ASGI middleware: the request body limit and the headers every response carries.

:class:`BodySizeLimit` refuses a body over the limit with a 413 problem *before* the
application sees it when ``Content-Length`` announces it, and otherwise counts the
bytes as they stream in (chunked uploads announce nothing): once the count passes the
limit the application's reading fails, whatever it was about to answer is dropped,
and the client gets the same 413 problem.  A malformed ``Content-Length`` is a 400.

:class:`SecurityHeaders` adds ``Cache-Control: no-store`` (responses carry private
data, and token creation returns a secret) and ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medwarden.api.problems import problem_response
from medwarden.errors import InputTooLargeError, UsageError

__all__ = ["BodyLimitExceeded", "BodySizeLimit", "SecurityHeaders"]


class BodyLimitExceeded(Exception):
    """Raised into the application when the streamed body passes the limit (let it pass:
    :class:`BodySizeLimit` answers 413)."""


def _content_length(scope: Scope) -> int | None:
    """The announced body length; ValueError if it is malformed or ambiguous."""
    values = {v.strip() for k, v in scope.get("headers", ()) if k.lower() == b"content-length"}
    if not values:
        return None
    if len(values) > 1:
        raise ValueError("conflicting Content-Length headers")
    (value,) = values
    if not value.isdigit():
        raise ValueError("Content-Length is not a number")
    return int(value)


class BodySizeLimit:
    """Refuse request bodies larger than ``max_bytes`` with ``413`` (announced or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check ``Content-Length``, then pass the request on with a counting ``receive``."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            announced = _content_length(scope)
        except ValueError as exc:
            await self._refuse(scope, receive, send, 400, UsageError.code, str(exc))
            return
        if announced is not None and announced > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        received = 0
        exceeded = False
        started = False
        finished = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyLimitExceeded
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, finished
            if exceeded and not started:
                return  # the app's answer to a truncated body; the 413 replaces it
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._too_large(scope, receive, send)
        elif exceeded and not finished:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is larger than the limit of {self.max_bytes} bytes"
        await self._refuse(scope, receive, send, 413, InputTooLargeError.code, detail)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, status: int, code: str, detail: str
    ) -> None:
        response = problem_response(
            status,
            code=code,
            detail=detail,
            instance=scope.get("path"),
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


class SecurityHeaders:
    """Add ``Cache-Control: no-store`` and ``X-Content-Type-Options: nosniff`` to responses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; amend the response's headers as it starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def amend(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Cache-Control", "no-store")
                headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, amend)
