"""Helpers for operations tests: product rows, notifications, a webhook and an SMTP receiver.

Products are inserted directly into the ``product`` table (the portfolio service is
not needed for scheduling and notification tests).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import insert

from medwarden.intel.cvss import SeverityRating
from medwarden.notify.model import Channel, ChannelKind, Notification, NotificationKind
from medwarden.store import SqlStore
from medwarden.store.schema_portfolio import product

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
"""The fixed time operations tests start at."""

SECRET = "whsec_test-secret-0123456789abcdef"
"""The signing secret of test webhook channels."""

_NEUTRAL: dict[type, Any] = {bool: False, int: 0, str: ""}


def add_product(
    store: SqlStore, slug: str, *, interval_s: int = 86_400, created_at: datetime = T0
) -> int:
    """Insert a product row directly; return its key."""
    values: dict[str, Any] = {
        "slug": slug,
        "name": slug.replace("-", " ").title(),
        "markets_json": "[]",
        "monitoring_interval_s": interval_s,
        "eos_horizon_days": 365,
        "created_at": created_at,
    }
    # Columns the portfolio adds later get a neutral value (false, 0, empty text).
    for column in product.c:
        if column.name not in values and not column.nullable and not column.primary_key:
            values[column.name] = _NEUTRAL.get(column.type.python_type)
    with store.database.write("adding a test product") as conn:
        return int(
            conn.execute(insert(product).values(values).returning(product.c.pk)).scalar_one()
        )


def notification(
    key: str,
    *,
    kind: NotificationKind = NotificationKind.NEW_FINDING,
    at: datetime = T0,
    product_slug: str | None = "pump",
    severity: SeverityRating | None = SeverityRating.HIGH,
    **payload: Any,
) -> Notification:
    """A notification with dedupe key ``key``."""
    return Notification(
        kind=kind,
        at=at,
        subject=f"finding {key}",
        dedupe_key=key,
        product=product_slug,
        severity=severity,
        payload=payload or {"vulnerability": "CVE-2021-23337"},
    )


def webhook(name: str, url: str, **options: Any) -> Channel:
    """A webhook channel signed with :data:`SECRET`."""
    return Channel(name=name, kind=ChannelKind.WEBHOOK, target=url, secret=SECRET, **options)


def email(name: str, address: str, **options: Any) -> Channel:
    """An e-mail channel."""
    return Channel(name=name, kind=ChannelKind.EMAIL, target=address, **options)


@dataclass
class Received:
    """One request the webhook receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP server answering POSTs with scripted statuses (then ``default``)."""

    url: str
    statuses: list[int]
    default: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)

    def next_status(self) -> int:
        """The status to answer the next request with."""
        return self.statuses.pop(0) if self.statuses else self.default


@contextmanager
def webhook_receiver(
    statuses: list[int] | None = None,
    *,
    default: int = 200,
    delay: float = 0.0,
    headers: dict[str, str] | None = None,
) -> Iterator[Receiver]:
    """Run a real HTTP receiver on 127.0.0.1 in a thread; yield it, stop it afterwards."""
    holder: list[Receiver] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver = holder[0]
            with lock:
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                status = receiver.next_status()
            if receiver.delay:
                threading.Event().wait(receiver.delay)
            self.send_response(status)
            for name, value in receiver.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    holder.append(
        Receiver(
            f"http://{host!s}:{port}/hook",
            list(statuses or []),
            default=default,
            delay=delay,
            headers=headers or {},
        )
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
