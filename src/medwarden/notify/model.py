"""What medwarden tells people about: one :class:`Notification` per noteworthy event.

Use cases that detect something (re-evaluation, end-of-support checks, the monitoring
liveness check) build notifications; the store puts them in an outbox *in the same
transaction* as the change that caused them, and delivery workers send them later
(signed webhooks, e-mail) with retries.  ``dedupe_key`` makes enqueuing idempotent:
the same event detected twice is delivered once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from medwarden.errors import UsageError
from medwarden.intel.cvss import SeverityRating

__all__ = ["Notification", "NotificationKind"]


class NotificationKind(StrEnum):
    """The events people subscribe to."""

    NEW_FINDING = "new_finding"
    KEV_ADDITION = "kev_addition"
    END_OF_SUPPORT = "end_of_support"
    MONITORING_LIVENESS = "monitoring_liveness"


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
