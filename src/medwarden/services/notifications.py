"""Delivering notifications: signed webhooks (httpx) and plain-text e-mail (smtplib).

:func:`deliver_due` claims due deliveries from the outbox, sends each one and records
the outcome: delivered, retried later with exponential back-off and jitter
(:class:`~medwarden.core.backoff.BackoffPolicy`: base 30 s, cap 6 h, 8 attempts), or
*dead* — given up because the receiver refused it for good or every attempt failed.

Webhooks: ``POST`` of the canonical JSON body with ``Medwarden-Signature:
t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``, ``Medwarden-Event-Id`` (the same on
every attempt) and ``Medwarden-Event-Kind``.  A 2xx response is delivered; a 4xx
other than 408 and 429 is dead at once (retrying cannot help); anything else,
including timeouts and connection errors, is retried (a ``Retry-After`` of 429/503
raises the wait).  E-mail: SMTP with optional STARTTLS and login; a recipient or
message refused with a 5xx reply is dead, other failures are retried.

Secrets (channel HMAC keys, the SMTP password) never appear in results or logs.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from enum import StrEnum
from typing import Protocol

import httpx

from medwarden import __version__
from medwarden.core.backoff import BackoffPolicy
from medwarden.core.clock import Clock
from medwarden.errors import UsageError
from medwarden.notify.model import (
    Channel,
    ChannelKind,
    Delivery,
    Notification,
    NotificationKind,
    event_id_for,
)
from medwarden.notify.render import email_subject, email_text, rfc3339, webhook_body
from medwarden.notify.signing import SIGNATURE_HEADER, signature_header

__all__ = [
    "DEFAULT_BACKOFF",
    "EVENT_ID_HEADER",
    "EVENT_KIND_HEADER",
    "DeliveryPolicy",
    "DeliveryQueue",
    "DeliveryReport",
    "SendOutcome",
    "SendResult",
    "SmtpSettings",
    "channel_test_notification",
    "classify_status",
    "deliver_due",
    "send",
    "send_email",
    "send_test",
    "send_webhook",
]

log = logging.getLogger(__name__)

EVENT_ID_HEADER = "Medwarden-Event-Id"
"""The header with the event id (``evt_...``), equal on every attempt: dedupe on it."""

EVENT_KIND_HEADER = "Medwarden-Event-Kind"
"""The header with the notification kind (``new_finding``, ``monitoring_liveness``, ...)."""

_RETRYABLE_4XX = frozenset({408, 429})

DEFAULT_BACKOFF = BackoffPolicy()
"""Delivery retries: 30 s doubling to at most 6 h, jittered, 8 attempts in all."""

SmtpFactory = Callable[["SmtpSettings"], smtplib.SMTP]


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """How to reach the mail server: host, port, sender, TLS, credentials, timeout.

    ``starttls`` upgrades a plain connection (port 587); ``implicit_tls`` connects
    with TLS from the start (port 465).  The password is never shown (``repr``)."""

    host: str
    port: int = 587
    sender: str = "medwarden@localhost"
    starttls: bool = True
    implicit_tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    def __post_init__(self) -> None:
        """Check the host, the port and that only one TLS mode is chosen."""
        if not self.host.strip():
            raise UsageError("the SMTP host must not be empty")
        if not 0 < self.port < 65536:
            raise UsageError(f"the SMTP port must be 1-65535, not {self.port}")
        if self.starttls and self.implicit_tls:
            raise UsageError("choose STARTTLS or implicit TLS for SMTP, not both")
        if "\n" in self.sender or "\r" in self.sender or "@" not in self.sender:
            raise UsageError(f"the SMTP sender {self.sender!r} is not an e-mail address")


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Back-off, webhook timeout, claim batch size and lease of delivery workers."""

    backoff: BackoffPolicy = DEFAULT_BACKOFF
    webhook_timeout: float = 10.0
    batch: int = 50
    lease: timedelta = timedelta(minutes=5)
    max_batches: int = 100


class SendOutcome(StrEnum):
    """What one attempt achieved."""

    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one attempt, a short reason and a server-requested minimum wait."""

    outcome: SendOutcome
    detail: str = ""
    retry_after: timedelta | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What :func:`deliver_due` did; ``lost`` counts deliveries whose lease expired."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0
    next_due_at: datetime | None = None

    @property
    def attempted(self) -> int:
        """Every attempt made."""
        return self.delivered + self.retried + self.dead + self.lost


class DeliveryQueue(Protocol):
    """The outbox's deliveries (``SqlStore.notifications``)."""

    def claim_due_deliveries(
        self, worker: str, limit: int, now: datetime, *, lease: timedelta = ...
    ) -> list[Delivery]:
        """Take up to ``limit`` due deliveries for ``worker``."""
        ...

    def mark_delivered(self, pk: int, worker: str, at: datetime) -> bool:
        """Record a successful attempt."""
        ...

    def mark_failed(
        self, pk: int, worker: str, error: str, *, next_attempt_at: datetime | None
    ) -> bool:
        """Record a failed attempt; retry at ``next_attempt_at`` or give up (None)."""
        ...

    def next_due_at(self) -> datetime | None:
        """When the earliest pending delivery is due."""
        ...


def classify_status(status: int) -> SendOutcome:
    """2xx delivered; 4xx except 408/429 dead (retrying cannot help); else retry."""
    if 200 <= status < 300:
        return SendOutcome.DELIVERED
    if 400 <= status < 500 and status not in _RETRYABLE_4XX:
        return SendOutcome.DEAD
    return SendOutcome.RETRY


def _retry_after(response: httpx.Response) -> timedelta | None:
    value = response.headers.get("retry-after", "").strip()
    return timedelta(seconds=int(value)) if value.isascii() and value.isdigit() else None


def send_webhook(
    client: httpx.Client, delivery: Delivery, now: datetime, *, timeout: float = 10.0
) -> SendResult:
    """POST the signed notification to the channel's URL; classify the response."""
    channel = delivery.channel
    if not channel.secret:
        return SendResult(SendOutcome.DEAD, "the webhook channel has no signing secret")
    body = webhook_body(delivery.notification, delivery.event_id)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"medwarden/{__version__}",
        SIGNATURE_HEADER: signature_header(channel.secret, int(now.timestamp()), body),
        EVENT_ID_HEADER: delivery.event_id,
        EVENT_KIND_HEADER: delivery.notification.kind.value,
        "Medwarden-Delivery-Attempt": str(delivery.attempts + 1),
    }
    try:
        response = client.post(channel.target, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        return SendResult(SendOutcome.RETRY, f"timed out ({type(exc).__name__})")
    except httpx.HTTPError as exc:  # the message may quote the URL: show it redacted
        text = str(exc).replace(channel.target, channel.display_target)
        return SendResult(SendOutcome.RETRY, f"{type(exc).__name__}: {text}")
    outcome = classify_status(response.status_code)
    detail = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return SendResult(outcome, detail, _retry_after(response))


def _message(settings: SmtpSettings, delivery: Delivery, now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = delivery.channel.target
    message["Subject"] = email_subject(delivery.notification)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{delivery.event_id}@medwarden>"
    message[EVENT_ID_HEADER] = delivery.event_id
    message[EVENT_KIND_HEADER] = delivery.notification.kind.value
    message.set_content(email_text(delivery.notification, delivery.event_id))
    return message


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.implicit_tls:
        context = ssl.create_default_context()
        return smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)


def _smtp_failure(exc: smtplib.SMTPException | OSError) -> SendResult:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in exc.recipients.values()]
        permanent = bool(codes) and all(code >= 500 for code in codes)
        outcome = SendOutcome.DEAD if permanent else SendOutcome.RETRY
        return SendResult(outcome, f"SMTP recipient refused ({', '.join(map(str, codes))})")
    if isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500:
        return SendResult(SendOutcome.DEAD, f"SMTP message refused ({exc.smtp_code})")
    if isinstance(exc, smtplib.SMTPResponseException):
        return SendResult(SendOutcome.RETRY, f"SMTP {exc.smtp_code} ({type(exc).__name__})")
    return SendResult(SendOutcome.RETRY, f"{type(exc).__name__}: {exc}")


def send_email(
    settings: SmtpSettings | None,
    delivery: Delivery,
    now: datetime,
    *,
    connect: SmtpFactory = _connect,
) -> SendResult:
    """Send the notification as a plain-text e-mail to the channel's address."""
    if settings is None:
        return SendResult(SendOutcome.RETRY, "SMTP is not configured for this worker")
    message = _message(settings, delivery, now)
    try:
        with connect(settings) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        return _smtp_failure(exc)
    return SendResult(SendOutcome.DELIVERED, "accepted by the SMTP server")


def send(
    delivery: Delivery,
    now: datetime,
    *,
    client: httpx.Client,
    smtp: SmtpSettings | None,
    timeout: float = 10.0,
) -> SendResult:
    """Make one attempt over the channel's transport."""
    if delivery.channel.kind is ChannelKind.WEBHOOK:
        return send_webhook(client, delivery, now, timeout=timeout)
    return send_email(smtp, delivery, now)


def deliver_due(
    queue: DeliveryQueue,
    clock: Clock,
    *,
    worker: str,
    client: httpx.Client,
    smtp: SmtpSettings | None = None,
    policy: DeliveryPolicy = DeliveryPolicy(),
) -> DeliveryReport:
    """Send every delivery due now, batch by batch, and record each outcome."""
    delivered = retried = dead = lost = 0
    for _batch in range(policy.max_batches):
        batch = queue.claim_due_deliveries(worker, policy.batch, clock.now(), lease=policy.lease)
        if not batch:
            break
        for delivery in batch:
            result = send(
                delivery, clock.now(), client=client, smtp=smtp, timeout=policy.webhook_timeout
            )
            now = clock.now()
            wait: timedelta | None = None
            if result.outcome is SendOutcome.DELIVERED:
                kept = queue.mark_delivered(delivery.pk, worker, now)
            else:
                if result.outcome is SendOutcome.RETRY:
                    wait = policy.backoff.delay(delivery.attempts + 1, at_least=result.retry_after)
                next_at = None if wait is None else now + wait
                kept = queue.mark_failed(
                    delivery.pk, worker, result.detail, next_attempt_at=next_at
                )
            _log(delivery, result, wait)
            if not kept:
                lost += 1
            elif result.outcome is SendOutcome.DELIVERED:
                delivered += 1
            elif wait is None:
                dead += 1
            else:
                retried += 1
    return DeliveryReport(delivered, retried, dead, lost, queue.next_due_at())


def _log(delivery: Delivery, result: SendResult, wait: timedelta | None) -> None:
    where = f"{delivery.channel.name} ({delivery.channel.display_target})"
    if result.outcome is SendOutcome.DELIVERED:
        log.info("delivered %s to %s", delivery.event_id, where)
    elif wait is not None:
        log.warning(
            "delivery of %s to %s failed (%s); retrying in %s",
            delivery.event_id,
            where,
            result.detail,
            wait,
        )
    else:
        log.warning("gave up delivering %s to %s: %s", delivery.event_id, where, result.detail)


def channel_test_notification(channel: Channel, now: datetime) -> Notification:
    """The notification ``medwarden notify test`` sends to ``channel``."""
    return Notification(
        kind=NotificationKind.TEST,
        at=now,
        subject=f"medwarden test notification for channel {channel.name}",
        dedupe_key=f"test:{channel.name}:{rfc3339(now)}",
        product=channel.product,
        payload={"channel": channel.name, "note": "a test; no action is needed"},
    )


def send_test(
    channel: Channel,
    clock: Clock,
    *,
    client: httpx.Client,
    smtp: SmtpSettings | None,
    timeout: float = 10.0,
) -> SendResult:
    """Send one test notification to ``channel`` now, bypassing the outbox (not stored)."""
    now = clock.now()
    notification = channel_test_notification(channel, now)
    delivery = Delivery(0, event_id_for(notification.dedupe_key), notification, channel)
    return send(delivery, now, client=client, smtp=smtp, timeout=timeout)
