"""Delivery against real receivers: a local webhook server and a local SMTP server.

The webhook receiver checks every request's signature the way a customer would; the
worker's clock is fixed, so back-off times are exact and nothing waits for real.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
from datetime import timedelta

import httpx
import orjson
import pytest

from medwarden.core.backoff import BackoffPolicy
from medwarden.core.clock import FixedClock
from medwarden.errors import VerificationError
from medwarden.notify.model import Delivery, DeliveryState, event_id_for
from medwarden.notify.signing import SIGNATURE_HEADER, verify_signature
from medwarden.services.notifications import (
    DeliveryPolicy,
    SendOutcome,
    SmtpSettings,
    classify_status,
    deliver_due,
    send_email,
    send_test,
)
from medwarden.store import SqlStore
from tests.notify.conftest import SmtpSink
from tests.ops_helpers import SECRET, T0, Receiver, notification, webhook, webhook_receiver
from tests.ops_helpers import email as email_channel

# Always the longest wait of each step, so retry times are exact.
POLICY = DeliveryPolicy(backoff=BackoffPolicy(random=lambda: 0.0), webhook_timeout=2.0)


def _verified(receiver: Receiver, clock: FixedClock) -> list[dict[str, object]]:
    """Verify every received request like a receiver must; return the parsed bodies."""
    documents = []
    for request in receiver.requests:
        verify_signature(SECRET, request.body, request.headers[SIGNATURE_HEADER], now=clock.now())
        document = orjson.loads(request.body)
        assert request.headers["Medwarden-Event-Id"] == document["id"]
        assert request.headers["Medwarden-Event-Kind"] == document["kind"]
        assert request.headers["Content-Type"] == "application/json"
        documents.append(document)
    return documents


def _state(store: SqlStore) -> dict[DeliveryState, int]:
    return {k: v for k, v in store.notifications.delivery_counts().items() if v}


def test_retries_after_server_errors_until_delivered(store: SqlStore) -> None:
    """Two 500s are retried after 30 s then 60 s; the third attempt is delivered."""
    clock = FixedClock(T0)
    with webhook_receiver([500, 503]) as receiver, httpx.Client() as client:
        store.notifications.add_channel(webhook("hook", receiver.url), actor="a", at=T0)
        store.notifications.enqueue([notification("pump:CVE-1")])
        run = lambda: deliver_due(  # noqa: E731
            store.notifications, clock, worker="w", client=client, policy=POLICY
        )
        first = run()
        assert (first.retried, first.next_due_at) == (1, T0 + timedelta(seconds=30))
        clock.set(T0 + timedelta(seconds=29))
        assert run().attempted == 0  # not due yet
        clock.set(T0 + timedelta(seconds=30))
        second = run()
        assert (second.retried, second.next_due_at) == (1, T0 + timedelta(seconds=90))
        clock.set(T0 + timedelta(seconds=90))
        third = run()
        assert (third.delivered, third.next_due_at) == (1, None)
        assert run().attempted == 0
        documents = _verified(receiver, clock)
    assert len(documents) == 3
    assert {d["id"] for d in documents} == {event_id_for("pump:CVE-1")}
    attempts = [r.headers["Medwarden-Delivery-Attempt"] for r in receiver.requests]
    assert attempts == ["1", "2", "3"]
    stamps = [r.headers[SIGNATURE_HEADER].split(",")[0] for r in receiver.requests]
    assert len(set(stamps)) == 3  # each attempt signed at its own time
    assert _state(store) == {DeliveryState.DELIVERED: 1}


def test_a_client_error_stops_retrying_at_once(store: SqlStore) -> None:
    """A 400 is permanent: the delivery is dead after one attempt and never sent again."""
    clock = FixedClock(T0)
    with webhook_receiver([400]) as receiver, httpx.Client() as client:
        store.notifications.add_channel(webhook("hook", receiver.url), actor="a", at=T0)
        store.notifications.enqueue([notification("a")])
        report = deliver_due(store.notifications, clock, worker="w", client=client, policy=POLICY)
        assert (report.dead, report.retried, report.next_due_at) == (1, 0, None)
        clock.set(T0 + timedelta(days=2))
        assert deliver_due(store.notifications, clock, worker="w", client=client).attempted == 0
    assert len(receiver.requests) == 1
    assert _state(store) == {DeliveryState.DEAD: 1}


def test_attempts_are_bounded(store: SqlStore) -> None:
    """A receiver failing forever gets max_attempts attempts, then the delivery is dead."""
    clock = FixedClock(T0)
    policy = DeliveryPolicy(backoff=BackoffPolicy(max_attempts=3, random=lambda: 0.0))
    with webhook_receiver(default=502) as receiver, httpx.Client() as client:
        store.notifications.add_channel(webhook("hook", receiver.url), actor="a", at=T0)
        store.notifications.enqueue([notification("a")])
        for _ in range(5):
            deliver_due(store.notifications, clock, worker="w", client=client, policy=policy)
            clock.set(clock.now() + timedelta(hours=7))
    assert len(receiver.requests) == 3
    assert _state(store) == {DeliveryState.DEAD: 1}


def test_timeouts_and_429_are_retried_honouring_retry_after(store: SqlStore) -> None:
    """A timeout is retried; a 429's Retry-After sets the minimum wait."""
    clock = FixedClock(T0)
    with webhook_receiver(delay=0.5) as slow, httpx.Client() as client:
        store.notifications.add_channel(webhook("slow", slow.url), actor="a", at=T0)
        store.notifications.enqueue([notification("a")])
        quick = DeliveryPolicy(backoff=POLICY.backoff, webhook_timeout=0.1)
        report = deliver_due(store.notifications, clock, worker="w", client=client, policy=quick)
        assert report.retried == 1
    with webhook_receiver([429], headers={"Retry-After": "600"}) as limited, httpx.Client() as c:
        store.notifications.set_channel_enabled("slow", False, actor="a", at=T0)
        store.notifications.add_channel(webhook("limited", limited.url), actor="a", at=T0)
        store.notifications.enqueue([notification("b")])
        report = deliver_due(store.notifications, clock, worker="w", client=c, policy=POLICY)
        assert report.retried == 1
        assert report.next_due_at == T0 + timedelta(seconds=600)
    assert len(limited.requests) == 1


def test_unreachable_receivers_are_retried(store: SqlStore) -> None:
    """A refused connection is a transient failure."""
    with webhook_receiver() as gone:
        url = gone.url
    clock = FixedClock(T0)
    store.notifications.add_channel(webhook("gone", url), actor="a", at=T0)
    store.notifications.enqueue([notification("a")])
    with httpx.Client() as client:
        report = deliver_due(store.notifications, clock, worker="w", client=client, policy=POLICY)
    assert report.retried == 1


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, SendOutcome.DELIVERED),
        (204, SendOutcome.DELIVERED),
        (301, SendOutcome.RETRY),
        (400, SendOutcome.DEAD),
        (401, SendOutcome.DEAD),
        (404, SendOutcome.DEAD),
        (408, SendOutcome.RETRY),
        (410, SendOutcome.DEAD),
        (429, SendOutcome.RETRY),
        (500, SendOutcome.RETRY),
        (503, SendOutcome.RETRY),
    ],
)
def test_status_classification(status: int, outcome: SendOutcome) -> None:
    """2xx delivered; 4xx except 408/429 dead; everything else retried."""
    assert classify_status(status) is outcome


def test_a_tampered_request_fails_the_receivers_check(store: SqlStore) -> None:
    """What arrives verifies; the same body changed by one byte, or replayed late, does not."""
    clock = FixedClock(T0)
    with webhook_receiver() as receiver, httpx.Client() as client:
        store.notifications.add_channel(webhook("hook", receiver.url), actor="a", at=T0)
        store.notifications.enqueue([notification("a")])
        deliver_due(store.notifications, clock, worker="w", client=client, policy=POLICY)
    request = receiver.requests[0]
    header = request.headers[SIGNATURE_HEADER]
    verify_signature(SECRET, request.body, header, now=T0)
    with pytest.raises(VerificationError):
        verify_signature(SECRET, request.body.replace(b"pump", b"pumq"), header, now=T0)
    with pytest.raises(VerificationError):
        verify_signature(SECRET, request.body, header, now=T0 + timedelta(minutes=10))


def test_email_reaches_a_real_smtp_server(store: SqlStore, smtp_sink: SmtpSink) -> None:
    """The e-mail channel sends a plain-text message with the notification's subject."""
    clock = FixedClock(T0)
    smtp = SmtpSettings(
        host=smtp_sink.host, port=smtp_sink.port, sender="medwarden@example.org", starttls=False
    )
    store.notifications.add_channel(email_channel("psirt", "psirt@example.org"), actor="a", at=T0)
    store.notifications.add_channel(
        email_channel("refused", "refuse@example.org"), actor="a", at=T0
    )
    store.notifications.enqueue([notification("pump:CVE-2021-23337")])
    with httpx.Client() as client:
        report = deliver_due(
            store.notifications, clock, worker="w", client=client, smtp=smtp, policy=POLICY
        )
    assert (report.delivered, report.dead) == (1, 1)  # 550 for the refused mailbox
    assert len(smtp_sink.messages) == 1
    envelope = smtp_sink.messages[0]
    assert envelope.mail_from == "medwarden@example.org"
    assert envelope.rcpt_tos == ["psirt@example.org"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Subject"] == "[medwarden] finding pump:CVE-2021-23337"
    assert message["Medwarden-Event-Id"] == event_id_for("pump:CVE-2021-23337")
    assert message.get_content_type() == "text/plain"
    body = message.get_content()
    assert "Product:  pump" in body
    assert "Severity: high" in body
    assert "CVE-2021-23337" in body


def test_smtp_failures_are_classified(smtp_sink: SmtpSink) -> None:
    """No server or STARTTLS refused: retry; no settings: retry; 5xx data refusal: dead."""
    delivery = Delivery(1, "evt_1", notification("a"), email_channel("m", "m@example.org"))
    closed = SmtpSettings(host="127.0.0.1", port=1, starttls=False, timeout=2)
    assert send_email(closed, delivery, T0).outcome is SendOutcome.RETRY
    assert send_email(None, delivery, T0).outcome is SendOutcome.RETRY
    no_tls = SmtpSettings(host=smtp_sink.host, port=smtp_sink.port, starttls=True)
    result = send_email(no_tls, delivery, T0)
    assert result.outcome is SendOutcome.RETRY
    assert smtp_sink.messages == []

    class Refusing(smtplib.SMTP):
        def send_message(self, *args: object, **kwargs: object) -> dict[str, tuple[int, bytes]]:
            raise smtplib.SMTPDataError(554, b"content refused")

    def refusing(settings: SmtpSettings) -> smtplib.SMTP:
        return Refusing(settings.host, settings.port, timeout=settings.timeout)

    plain = SmtpSettings(host=smtp_sink.host, port=smtp_sink.port, starttls=False)
    assert send_email(plain, delivery, T0, connect=refusing).outcome is SendOutcome.DEAD

    class Busy(smtplib.SMTP):
        def send_message(self, *args: object, **kwargs: object) -> dict[str, tuple[int, bytes]]:
            raise smtplib.SMTPSenderRefused(451, b"try later", "medwarden@localhost")

    def busy(settings: SmtpSettings) -> smtplib.SMTP:
        return Busy(settings.host, settings.port, timeout=settings.timeout)

    retried = send_email(plain, delivery, T0, connect=busy)
    assert (retried.outcome, retried.detail) == (SendOutcome.RETRY, "SMTP 451 (SMTPSenderRefused)")


def test_smtp_login_is_used_when_configured(smtp_sink: SmtpSink) -> None:
    """With a user name the worker logs in (here refused: the server offers no AUTH)."""
    delivery = Delivery(1, "evt_1", notification("a"), email_channel("m", "m@example.org"))
    settings = SmtpSettings(
        host=smtp_sink.host, port=smtp_sink.port, starttls=False, username="u", password="pw"
    )
    result = send_email(settings, delivery, T0)
    assert result.outcome is SendOutcome.RETRY
    assert "pw" not in result.detail
    assert "pw" not in repr(settings)


def test_send_test_reaches_one_channel_directly(store: SqlStore) -> None:
    """``notify test`` sends a signed test notification without touching the outbox."""
    clock = FixedClock(T0)
    with webhook_receiver() as receiver, httpx.Client() as client:
        channel = webhook("hook", receiver.url)
        result = send_test(channel, clock, client=client, smtp=None)
        assert result.outcome is SendOutcome.DELIVERED
        (document,) = _verified(receiver, clock)
    assert document["kind"] == "test"
    assert store.notifications.delivery_counts()[DeliveryState.PENDING] == 0


def test_smtp_settings_are_checked() -> None:
    """Empty host, bad port, both TLS modes, or a sender that is not an address: refused."""
    from medwarden.errors import UsageError

    for options in (
        {"host": " "},
        {"host": "h", "port": 0},
        {"host": "h", "starttls": True, "implicit_tls": True},
        {"host": "h", "sender": "nobody"},
    ):
        with pytest.raises(UsageError):
            SmtpSettings(**options)  # type: ignore[arg-type]
