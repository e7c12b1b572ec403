"""Lenient parsing of the timestamps that SBOMs and vulnerability feeds carry."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["parse_timestamp"]


def parse_timestamp(text: str | None) -> datetime | None:
    """Parse an ISO 8601 / RFC 3339 timestamp into an aware UTC datetime.

    Accepts the forms seen in real feeds: ``2023-01-02T03:04:05.123Z``,
    ``2023-01-02T03:04:05.123`` (NVD, no zone: UTC), ``2023-01-02`` (KEV dates)
    and offsets such as ``+00:00``.  Returns ``None`` for empty input and raises
    ``ValueError`` for anything else.
    """
    if text is None:
        return None
    value = text.strip()
    if not value:
        return None
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
