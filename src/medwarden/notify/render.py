"""What a delivered notification looks like: the webhook JSON body and the e-mail text.

The webhook body is canonical JSON (sorted keys, compact, UTF-8), so the bytes that
are signed are the bytes that are sent, on every attempt::

    {"at": "2026-11-25T09:30:00Z", "dedupe_key": "...", "id": "evt_...",
     "kind": "new_finding", "payload": {...}, "product": "infusion-pump",
     "severity": "high", "subject": "..."}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from medwarden.core.digests import canonical_json
from medwarden.notify.model import Notification

__all__ = ["email_subject", "email_text", "event_document", "rfc3339", "webhook_body"]


def rfc3339(value: datetime) -> str:
    """``value`` in UTC as RFC 3339 with a ``Z`` (microseconds only when present)."""
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def event_document(notification: Notification, event_id: str) -> dict[str, Any]:
    """The notification as the JSON object receivers get."""
    return {
        "id": event_id,
        "kind": notification.kind.value,
        "at": rfc3339(notification.at),
        "subject": notification.subject,
        "dedupe_key": notification.dedupe_key,
        "product": notification.product,
        "severity": None if notification.severity is None else notification.severity.value,
        "payload": notification.payload,
    }


def webhook_body(notification: Notification, event_id: str) -> bytes:
    """The webhook request body: :func:`event_document` as canonical JSON bytes."""
    return canonical_json(event_document(notification, event_id))


def email_subject(notification: Notification) -> str:
    """The e-mail subject: the notification's subject on one line, prefixed ``[medwarden]``."""
    one_line = " ".join(notification.subject.split())
    return f"[medwarden] {one_line}"


def email_text(notification: Notification, event_id: str) -> str:
    """A plain-text e-mail body: summary lines, then the payload as indented JSON."""
    lines = [
        notification.subject,
        "",
        f"Kind:     {notification.kind.value}",
        f"Product:  {notification.product or '(whole portfolio)'}",
    ]
    if notification.severity is not None:
        lines.append(f"Severity: {notification.severity.value}")
    lines += [f"Time:     {rfc3339(notification.at)}", f"Event id: {event_id}"]
    if notification.payload:
        details = orjson.dumps(
            notification.payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
        ).decode()
        lines += ["", "Details:", details]
    lines += ["", "-- ", "Sent by medwarden (post-market cybersecurity monitoring)."]
    return "\n".join(lines) + "\n"
