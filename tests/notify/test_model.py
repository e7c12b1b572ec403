"""Channels, their filters, and what a notification looks like on the wire."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest

from medwarden.errors import UsageError
from medwarden.intel.cvss import SeverityRating
from medwarden.notify.alerts import Alert, AlertDraft
from medwarden.notify.model import (
    Channel,
    ChannelKind,
    Notification,
    NotificationKind,
    event_id_for,
)
from medwarden.notify.render import email_subject, email_text, rfc3339, webhook_body
from tests.ops_helpers import SECRET, T0, email, notification, webhook


def test_channels_filter_by_kind_severity_and_product() -> None:
    """Kind subscribed, severity at or above the threshold (or none), product filter."""
    high = notification("a", severity=SeverityRating.HIGH)
    low = notification("b", severity=SeverityRating.LOW)
    unrated = notification("c", severity=None)
    other_product = notification("d", product_slug="monitor")
    portfolio_wide = notification("e", product_slug=None)
    kev = notification("f", kind=NotificationKind.KEV_ADDITION)

    everything = webhook("all", "https://h.example/x")
    assert all(everything.accepts(n) for n in (high, low, unrated, other_product, kev))
    threshold = webhook("high", "https://h.example/x", min_severity=SeverityRating.HIGH)
    assert threshold.accepts(high)
    assert not threshold.accepts(low)
    assert threshold.accepts(unrated)
    pump_only = webhook("pump", "https://h.example/x", product="pump")
    assert pump_only.accepts(high)
    assert not pump_only.accepts(other_product)
    assert not pump_only.accepts(portfolio_wide)
    findings_only = email("f", "psirt@example.org", kinds=frozenset({NotificationKind.NEW_FINDING}))
    assert findings_only.accepts(high)
    assert not findings_only.accepts(kev)
    assert not webhook("off", "https://h.example/x", enabled=False).accepts(high)
    test_kind = notification("t", kind=NotificationKind.TEST)
    assert not everything.accepts(test_kind)  # tests go to one channel, directly


@pytest.mark.parametrize(
    ("kind", "target", "secret", "message"),
    [
        (ChannelKind.WEBHOOK, "ftp://h.example/x", SECRET, "http"),
        (ChannelKind.WEBHOOK, "https:///x", SECRET, "http"),
        (ChannelKind.WEBHOOK, "https://h.example:99999/x", SECRET, "http"),
        (ChannelKind.WEBHOOK, "https://h.example/x", None, "secret"),
        (ChannelKind.WEBHOOK, "https://h.example/x", "short", "secret"),
        (ChannelKind.EMAIL, "not-an-address", None, "e-mail"),
        (ChannelKind.EMAIL, "a@b.example\nBcc: x@y.example", None, "e-mail"),
    ],
)
def test_unusable_channels_are_refused(
    kind: ChannelKind, target: str, secret: str | None, message: str
) -> None:
    """Webhooks need an http(s) URL and a secret; e-mail channels one plain address."""
    with pytest.raises(UsageError, match=message):
        Channel("c", kind, target, secret=secret)


@pytest.mark.parametrize("name", ["", "Upper", "with space", "x" * 64, "-leading"])
def test_channel_names_are_restricted(name: str) -> None:
    """Names are short lowercase identifiers."""
    with pytest.raises(UsageError, match="name"):
        email(name, "a@example.org")
    with pytest.raises(UsageError, match="at least one kind"):
        email("ok", "a@example.org", kinds=frozenset())


def test_the_secret_never_shows() -> None:
    """Neither repr nor the description (used by audit events and listings) holds it."""
    channel = webhook("hook", "https://user:pw@h.example:8443/in?token=abc")
    assert SECRET not in repr(channel)
    described = channel.describe()
    assert SECRET not in orjson.dumps(described).decode()
    assert described["signed"] is True
    assert described["target"] == "https://***@h.example:8443/in?***"
    assert "pw" not in described["target"]
    assert "abc" not in described["target"]
    assert email("m", "a@example.org").display_target == "a@example.org"


def test_the_webhook_body_is_canonical_json_with_a_stable_event_id() -> None:
    """Sorted keys, RFC 3339 UTC times; the event id depends only on the dedupe key."""
    item = notification("pump:CVE-2021-23337", severity=SeverityRating.CRITICAL)
    event_id = event_id_for(item.dedupe_key)
    assert event_id == event_id_for("pump:CVE-2021-23337")
    assert event_id != event_id_for("pump:CVE-2021-23338")
    assert event_id.startswith("evt_")
    assert len(event_id) == 36
    body = webhook_body(item, event_id)
    document = orjson.loads(body)
    assert list(document) == sorted(document)
    assert document == {
        "at": "2026-11-25T09:00:00Z",
        "dedupe_key": "pump:CVE-2021-23337",
        "id": event_id,
        "kind": "new_finding",
        "payload": {"vulnerability": "CVE-2021-23337"},
        "product": "pump",
        "severity": "critical",
        "subject": "finding pump:CVE-2021-23337",
    }
    assert webhook_body(item, event_id) == body


def test_the_email_text_is_plain_and_complete() -> None:
    """Subject on one line; body with kind, product, severity, time, event id, details."""
    item = Notification(
        kind=NotificationKind.MONITORING_LIVENESS,
        at=T0,
        subject="No run\nfor pump",
        dedupe_key="k",
        payload={"product": "pump"},
    )
    assert email_subject(item) == "[medwarden] No run for pump"
    text = email_text(item, "evt_1")
    assert "Kind:     monitoring_liveness" in text
    assert "(whole portfolio)" in text
    assert "Severity" not in text
    assert "Event id: evt_1" in text
    assert '"product": "pump"' in text
    assert rfc3339(datetime.fromisoformat("2026-11-25T10:00:00.5+01:00")) == (
        "2026-11-25T09:00:00.500000Z"
    )


def test_notifications_and_alerts_check_their_fields() -> None:
    """Aware times, a subject and a dedupe key; alert kinds are identifiers."""
    with pytest.raises(UsageError):
        Notification(NotificationKind.NEW_FINDING, datetime(2026, 1, 1), "s", "k")  # noqa: DTZ001
    with pytest.raises(UsageError):
        Notification(NotificationKind.NEW_FINDING, T0, " ", "k")
    with pytest.raises(UsageError):
        AlertDraft("Not A Kind", "k")
    with pytest.raises(UsageError):
        AlertDraft("eos", " ")
    alert = Alert(1, "eos", "k", None, T0, None)
    assert alert.is_open
