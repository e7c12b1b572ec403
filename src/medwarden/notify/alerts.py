"""Alerts: conditions that stay *open* until something clears them.

A notification is an event; an alert is a state ("no successful monitoring run for
product X in 2x its interval", "release Y reaches end of support within 90 days").
At most one alert per ``dedupe_key`` is open at a time, so a check that runs every
few minutes raises it once and clears it once; raising and clearing are audited and
raising can enqueue a notification in the same transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from medwarden.errors import UsageError

__all__ = ["ALERT_KIND", "Alert", "AlertDraft"]

ALERT_KIND = re.compile(r"[a-z][a-z0-9_]*")
"""Alert kinds are lowercase identifiers such as ``monitoring_liveness``."""


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """An alert to raise: its kind, dedupe key, product (slug, or None) and details."""

    kind: str
    dedupe_key: str
    product: str | None = None
    detail: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        """Check the kind and the dedupe key."""
        if not ALERT_KIND.fullmatch(self.kind):
            raise UsageError(f"alert kind {self.kind!r} is not a lowercase identifier")
        if not self.dedupe_key.strip():
            raise UsageError("an alert needs a dedupe key")


@dataclass(frozen=True, slots=True)
class Alert:
    """A stored alert; open while ``cleared_at`` is None."""

    pk: int
    kind: str
    dedupe_key: str
    product: str | None
    raised_at: datetime
    cleared_at: datetime | None
    detail: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def is_open(self) -> bool:
        """Whether the alert has not been cleared."""
        return self.cleared_at is None
