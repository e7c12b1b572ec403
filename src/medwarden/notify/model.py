"""What medwarden tells people about: one :class:`Notification` per noteworthy event.

Use cases that detect something (re-evaluation, end-of-support checks, the monitoring
liveness check) build notifications; the store puts them in an outbox *in the same
transaction* as the change that caused them, and delivery workers send them later
(signed webhooks, e-mail) with retries.  ``dedupe_key`` makes enqueuing idempotent:
the same event detected twice is delivered once.

A :class:`Channel` is where notifications go (a webhook URL or an e-mail address) and
which of them it wants (:meth:`Channel.accepts`); a :class:`Delivery` is one
notification on its way to one channel.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from medwarden.errors import UsageError
from medwarden.intel.cvss import SeverityRating

__all__ = [
    "CHANNEL_NAME",
    "Channel",
    "ChannelKind",
    "Delivery",
    "DeliveryState",
    "Notification",
    "NotificationKind",
    "event_id_for",
]

CHANNEL_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
"""Channel names: lowercase letters, digits, ``_ . -``; at most 63 characters."""

_EMAIL = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")


class NotificationKind(StrEnum):
    """The events people subscribe to."""

    NEW_FINDING = "new_finding"
    KEV_ADDITION = "kev_addition"
    END_OF_SUPPORT = "end_of_support"
    MONITORING_LIVENESS = "monitoring_liveness"
    EARLY_WARNING = "telemetry.early_warning"
    TEST = "test"
    """Sent by ``medwarden notify test`` to one channel, whatever it subscribes to."""


@dataclass(frozen=True, slots=True)
class Notification:
    """One event to deliver.

    ``product`` is the product's slug (None for portfolio-wide events); ``subject`` is a
    one-line summary for people (an e-mail subject); ``payload`` is the machine-readable
    body (plain JSON values); ``severity`` is set for findings and drives thresholds.
    """

    kind: NotificationKind
    at: datetime
    subject: str
    dedupe_key: str
    product: str | None = None
    severity: SeverityRating | None = None
    payload: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise UsageError("a notification's time must be timezone-aware")
        if not self.subject.strip() or not self.dedupe_key.strip():
            raise UsageError("a notification needs a subject and a dedupe key")


def event_id_for(dedupe_key: str) -> str:
    """The stable event id of the notification with ``dedupe_key`` (``evt_`` + 32 hex).

    Every delivery attempt to every channel carries the same id, so receivers can
    drop duplicates (a retry after a response that got lost on the way back)."""
    return "evt_" + hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()[:32]


class ChannelKind(StrEnum):
    """How a channel is reached."""

    WEBHOOK = "webhook"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class Channel:
    """A destination for notifications and the filter choosing which ones it gets.

    ``target`` is an ``http(s)`` URL (webhook) or an e-mail address; ``secret`` is the
    HMAC key webhooks are signed with (never shown: it is left out of ``repr``, audit
    events and logs).  ``min_severity`` drops notifications with a lower severity
    (those without one always pass); ``kinds`` lists the kinds subscribed; ``product``
    (a slug) restricts the channel to that product's notifications.
    """

    name: str
    kind: ChannelKind
    target: str
    secret: str | None = field(default=None, repr=False, compare=False)
    min_severity: SeverityRating = SeverityRating.NONE
    kinds: frozenset[NotificationKind] = frozenset(
        k for k in NotificationKind if k is not NotificationKind.TEST
    )
    product: str | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        """Check the name, the target for the kind, and that webhooks have a secret."""
        if not CHANNEL_NAME.fullmatch(self.name):
            raise UsageError(
                f"channel name {self.name!r} is not allowed",
                hint="use lowercase letters, digits, '_', '.', '-' (at most 63 characters)",
            )
        if self.kind is ChannelKind.WEBHOOK:
            _check_url(self.target)
            if not self.secret or len(self.secret) < 16:
                raise UsageError(
                    "a webhook channel needs a signing secret of at least 16 characters",
                    hint="leave the secret out and medwarden generates one",
                )
        elif not _EMAIL.fullmatch(self.target):
            raise UsageError(f"{self.target!r} is not an e-mail address")
        if not self.kinds:
            raise UsageError("a channel must subscribe to at least one kind of notification")

    def accepts(self, notification: Notification) -> bool:
        """Whether this channel wants ``notification`` (enabled, kind, severity, product)."""
        if not self.enabled or notification.kind not in self.kinds:
            return False
        if notification.severity is not None and notification.severity.rank < (
            self.min_severity.rank
        ):
            return False
        return self.product is None or notification.product == self.product

    @property
    def display_target(self) -> str:
        """The target safe to show and audit: credentials and query values of URLs hidden."""
        if self.kind is ChannelKind.EMAIL:
            return self.target
        parts = urlsplit(self.target)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        if parts.username is not None:
            host = f"***@{host}"
        query = "***" if parts.query else ""
        return urlunsplit((parts.scheme, host, parts.path, query, ""))

    def describe(self) -> dict[str, Any]:
        """The channel as plain JSON for audit events and listings, without the secret."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "target": self.display_target,
            "signed": self.secret is not None,
            "min_severity": self.min_severity.value,
            "kinds": sorted(k.value for k in self.kinds),
            "product": self.product,
            "enabled": self.enabled,
        }


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        _port = parts.port  # raises for a port outside 0-65535
    except ValueError:
        usable = False
    if not usable or any(c.isspace() for c in url):
        raise UsageError(f"webhook target must be an http(s) URL, not {url!r}")


class DeliveryState(StrEnum):
    """Where one notification stands for one channel."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    """Given up: a permanent refusal, or every allowed attempt failed."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification on its way to one channel, as claimed by a worker.

    ``attempts`` counts the attempts made before this one."""

    pk: int
    event_id: str
    notification: Notification
    channel: Channel
    attempts: int = 0
