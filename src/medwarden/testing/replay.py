"""A loopback HTTP server that replays recorded responses, for testing fetchers offline.

Routes are keyed by method + path, optionally narrowed by a subset of query
parameters; the most specific matching route wins.  Faults (``429``, ``503``...)
can be queued in front of a route to exercise retries.  Every request received is
recorded.  Use it as a context manager::

    with ReplayServer() as server:
        server.add("GET", "/feed.json", Response(body=b"{}"))
        httpx.get(server.url + "/feed.json")

A directory of recordings is described by a ``manifest.json`` (see
:meth:`ReplayServer.from_manifest`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

__all__ = ["ReceivedRequest", "ReplayServer", "Response", "Route"]


@dataclass(frozen=True, slots=True)
class Response:
    """A recorded response: status, headers and body."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Route:
    """Method + path, and the query parameters a request must carry to match."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)

    def matches(self, method: str, path: str, query: Mapping[str, str]) -> bool:
        """Whether a request matches: same method and path, query a superset of ours."""
        if method != self.method or path != self.path:
            return False
        return all(query.get(key) == value for key, value in self.query.items())


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """A request the server received (headers lower-cased)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]


class _QuietServer(ThreadingHTTPServer):
    """A threading HTTP server that does not print a traceback when a client hangs up."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Ignore connection errors of clients that went away (timeouts, retry tests)."""


class ReplayServer:
    """Serve recorded responses on ``127.0.0.1`` at an ephemeral port, in a thread."""

    def __init__(self) -> None:
        self._routes: list[tuple[Route, Response]] = []
        self._faults: list[tuple[Route, deque[Response]]] = []
        self._lock = threading.Lock()
        self.requests: list[ReceivedRequest] = []
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_manifest(cls, manifest: Path) -> ReplayServer:
        """Load routes from a manifest: ``[{"method", "path", "query", "status",
        "headers", "body_file"}]``, body files relative to the manifest."""
        server = cls()
        for entry in orjson.loads(manifest.read_bytes()):
            body = (manifest.parent / entry["body_file"]).read_bytes()
            server.add(
                entry.get("method", "GET"),
                entry["path"],
                Response(entry.get("status", 200), body, entry.get("headers", {})),
                query=entry.get("query", {}),
            )
        return server

    def add(
        self, method: str, path: str, response: Response, *, query: Mapping[str, str] | None = None
    ) -> None:
        """Serve ``response`` for requests matching method, path and ``query`` (a subset)."""
        with self._lock:
            self._routes.append((Route(method.upper(), path, dict(query or {})), response))

    def inject(
        self,
        method: str,
        path: str,
        statuses: list[int],
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next matching requests with these statuses, one each, in order."""
        queue = deque(Response(status, b"", dict(headers or {})) for status in statuses)
        with self._lock:
            self._faults.append((Route(method.upper(), path, dict(query or {})), queue))

    @property
    def url(self) -> str:
        """Base URL of the running server, ``http://127.0.0.1:PORT``."""
        if self._server is None:
            raise RuntimeError("the replay server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def respond(self, method: str, target: str, headers: Mapping[str, str]) -> Response:
        """Record a request and return the response to send for it."""
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self._lock:
            self.requests.append(ReceivedRequest(method, parts.path, query, dict(headers)))
            for route, queue in self._faults:
                if queue and route.matches(method, parts.path, query):
                    return queue.popleft()
            candidates = [
                (r, resp) for r, resp in self._routes if r.matches(method, parts.path, query)
            ]
        if not candidates:
            return Response(404, b"no recorded response", {"content-type": "text/plain"})
        return max(candidates, key=lambda pair: len(pair[0].query))[1]

    def __enter__(self) -> ReplayServer:
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None


def _handler_for(replay: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            response = replay.respond(self.command, self.path, headers)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = _serve
        do_HEAD = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: tests read ``ReplayServer.requests`` instead."""

    return Handler
