"""Webhook signatures: HMAC-SHA256 over a timestamp and the body, as Stripe and Svix do.

Every webhook request carries ``Medwarden-Signature: t=<unix seconds>,v1=<hex>`` where
``hex`` is ``HMAC-SHA256(secret, "<t>.<body>")`` and ``secret`` is the channel's
secret (its UTF-8 bytes).  Receivers recompute the MAC over the *raw* body bytes,
compare in constant time and refuse timestamps outside a tolerance (replay
protection).  Several ``v1=`` entries may appear (while a secret is being rotated);
one match is enough.  See ``docs/notifications.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from medwarden.errors import VerificationError

__all__ = [
    "SCHEME",
    "SIGNATURE_HEADER",
    "TOLERANCE_S",
    "new_secret",
    "sign",
    "signature_header",
    "verify_signature",
]

SIGNATURE_HEADER = "Medwarden-Signature"
"""The request header carrying the signature."""

SCHEME = "v1"
"""The signature scheme: HMAC-SHA256, hex, over ``"<t>.<body>"``."""

TOLERANCE_S = 300
"""Default accepted clock difference between sender and receiver, in seconds."""


def new_secret() -> str:
    """A fresh random signing secret (``whsec_`` + 43 URL-safe characters, 256 bits)."""
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Medwarden-Signature`` value: ``t=<timestamp>,v1=<hex MAC>``."""
    return f"t={timestamp},{SCHEME}={sign(secret, timestamp, body)}"


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    macs: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == SCHEME:
            macs.append(value)
    if timestamp is None or not macs:
        raise VerificationError(
            "the webhook signature header is malformed",
            hint=f"expected {SIGNATURE_HEADER}: t=<unix seconds>,{SCHEME}=<hex HMAC-SHA256>",
        )
    return timestamp, macs


def verify_signature(
    secret: str,
    body: bytes,
    header: str,
    *,
    now: datetime | int,
    tolerance_s: int = TOLERANCE_S,
) -> int:
    """Check a received webhook and return its signed timestamp; raise if it is not genuine.

    ``body`` must be the raw request body, byte for byte; ``now`` the receiver's time
    (a datetime or Unix seconds).  Raises :class:`~medwarden.errors.VerificationError`
    when the header is malformed, no ``v1`` MAC matches, or the timestamp is more than
    ``tolerance_s`` seconds away from ``now``."""
    timestamp, macs = _parse(header)
    expected = sign(secret, timestamp, body).encode("ascii")
    if not any(hmac.compare_digest(expected, mac.encode("utf-8", "replace")) for mac in macs):
        raise VerificationError(
            "the webhook signature does not match the body",
            hint="check the channel secret, and verify the raw body before parsing it",
        )
    current = int(now.timestamp()) if isinstance(now, datetime) else now
    if abs(current - timestamp) > tolerance_s:
        raise VerificationError(
            f"the webhook signature timestamp is {abs(current - timestamp)} s away from now",
            hint=f"more than {tolerance_s} s: a replayed request or a wrong clock",
        )
    return timestamp
