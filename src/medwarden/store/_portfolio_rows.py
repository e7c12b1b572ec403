"""Rows of the portfolio tables to and from domain values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import orjson

from medwarden.audit.model import EventDraft
from medwarden.portfolio.model import LifecycleState, Market, Product, Release, RevisionInfo

__all__ = [
    "event_draft",
    "markets_json",
    "parse_date",
    "product_from_row",
    "release_from_row",
    "revision_from_row",
]


def _markets(text: str) -> tuple[Market, ...]:
    return tuple(Market(m["market"], m["regime"]) for m in orjson.loads(text))


def markets_json(markets: tuple[Market, ...]) -> str:
    """Markets as the JSON text stored in ``product.markets_json``."""
    return orjson.dumps([{"market": m.market, "regime": m.regime} for m in markets]).decode()


def parse_date(value: Any) -> date | None:
    """A stored date (SQLite may return text)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def product_from_row(row: Mapping[Any, Any], release_count: int = 0) -> Product:
    """The :class:`Product` of a ``product`` row."""
    return Product(
        slug=row["slug"],
        name=row["name"],
        created_at=row["created_at"],
        manufacturer=row["manufacturer"],
        device_model=row["device_model"],
        regulatory_class=row["regulatory_class"],
        markets=_markets(row["markets_json"]),
        monitoring_interval_s=row["monitoring_interval_s"],
        support_end=parse_date(row["support_end"]),
        eos_horizon_days=row["eos_horizon_days"],
        sbom_public=bool(row["sbom_public"]),
        release_count=release_count,
    )


def revision_from_row(row: Mapping[Any, Any]) -> RevisionInfo:
    """The :class:`RevisionInfo` of an ``sbom_revision`` row (without the document)."""
    return RevisionInfo(
        number=row["number"],
        format=row["format"],
        spec_version=row["spec_version"],
        digest=row["digest"],
        media_type=row["media_type"],
        component_count=row["component_count"],
        imported_at=row["imported_at"],
        imported_by=row["imported_by"],
        serial_number=row["serial_number"],
        document_timestamp=row["document_timestamp"],
    )


def release_from_row(
    slug: str,
    row: Mapping[Any, Any],
    revision: RevisionInfo | None = None,
    open_findings: int = 0,
) -> Release:
    """The :class:`Release` of a ``release`` row."""
    return Release(
        product=slug,
        version=row["version"],
        state=LifecycleState(row["state"]),
        created_at=row["created_at"],
        released_at=row["released_at"],
        support_end=parse_date(row["support_end"]),
        current_revision=revision,
        open_findings=open_findings,
    )


def event_draft(
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> EventDraft:
    """An audit event draft of a portfolio change."""
    return EventDraft(at, actor, action, subject_type, subject_id, before, after, reason)
