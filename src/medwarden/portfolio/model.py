"""Products, releases and their lifecycle, as the portfolio stores them.

A *product* is a device model (or a related system such as medwarden's own
backend, REQUIREMENTS 63) with its regulatory context held as data: class and the
markets and regimes it is placed under.  A *release* is one software version of a
product with a lifecycle state; each release keeps every SBOM ever imported for it
as numbered, immutable *revisions* (REQUIREMENTS 5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from medwarden.errors import UsageError

__all__ = [
    "DEFAULT_EOS_HORIZON_DAYS",
    "DEFAULT_MONITORING_INTERVAL_S",
    "DiscoveryMethod",
    "LifecycleState",
    "Market",
    "Product",
    "ProductSpec",
    "Release",
    "ReleaseSpec",
    "RevisionInfo",
    "check_slug",
]

DEFAULT_MONITORING_INTERVAL_S = 24 * 3600
"""Monitoring runs daily unless a product says otherwise (REQUIREMENTS 9)."""

DEFAULT_EOS_HORIZON_DAYS = 365
"""End-of-support alerts look this far ahead by default (REQUIREMENTS 4)."""

_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
_MIN_INTERVAL_S = 60


def check_slug(slug: str) -> str:
    """Return ``slug`` if it is a valid product id (lowercase, digits, ``.-_``, 1-64 chars)."""
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        raise UsageError(
            f"{slug!r} is not a valid product id",
            hint="use 1-64 lowercase letters, digits, '.', '-' or '_' (e.g. insulin-pump-x2)",
        )
    return slug


class LifecycleState(StrEnum):
    """Where a software version is in its life; ``fielded`` versions run on patients' devices."""

    IN_DEVELOPMENT = "in_development"
    RELEASED = "released"
    FIELDED = "fielded"
    END_OF_SUPPORT = "end_of_support"


class DiscoveryMethod(StrEnum):
    """How a finding was discovered (REQUIREMENTS 11, FDA premarket guidance V.A.4(b))."""

    FEED = "feed"
    RESEARCHER_REPORT = "researcher_report"
    INTERNAL_TEST = "internal_test"
    CUSTOMER_COMPLAINT = "customer_complaint"
    ISAO = "isao"


@dataclass(frozen=True, slots=True)
class Market:
    """A market the product is placed on and the regime that applies there (``EU``/``MDR``)."""

    market: str
    regime: str

    def __post_init__(self) -> None:
        if not self.market.strip() or not self.regime.strip():
            raise UsageError("a market needs a name and a regulatory regime")


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """What is needed to create a product; checked when built."""

    slug: str
    name: str
    manufacturer: str | None = None
    device_model: str | None = None
    regulatory_class: str | None = None
    markets: tuple[Market, ...] = ()
    monitoring_interval_s: int = DEFAULT_MONITORING_INTERVAL_S
    support_end: date | None = None
    eos_horizon_days: int = DEFAULT_EOS_HORIZON_DAYS
    sbom_public: bool = False

    def __post_init__(self) -> None:
        check_slug(self.slug)
        if not self.name.strip():
            raise UsageError("a product needs a name")
        if self.monitoring_interval_s < _MIN_INTERVAL_S:
            raise UsageError(
                f"monitoring interval {self.monitoring_interval_s} s is too short",
                hint=f"use at least {_MIN_INTERVAL_S} seconds (the default is one day)",
            )
        if self.eos_horizon_days < 0:
            raise UsageError("the end-of-support horizon cannot be negative")


@dataclass(frozen=True, slots=True)
class Product:
    """A stored product."""

    slug: str
    name: str
    created_at: datetime
    manufacturer: str | None = None
    device_model: str | None = None
    regulatory_class: str | None = None
    markets: tuple[Market, ...] = ()
    monitoring_interval_s: int = DEFAULT_MONITORING_INTERVAL_S
    support_end: date | None = None
    eos_horizon_days: int = DEFAULT_EOS_HORIZON_DAYS
    sbom_public: bool = False
    release_count: int = 0


@dataclass(frozen=True, slots=True)
class ReleaseSpec:
    """What is needed to create a release of a product."""

    version: str
    state: LifecycleState = LifecycleState.IN_DEVELOPMENT
    released_at: datetime | None = None
    support_end: date | None = None

    def __post_init__(self) -> None:
        if not self.version.strip() or len(self.version) > 200:
            raise UsageError("a release needs a software version of 1-200 characters")


@dataclass(frozen=True, slots=True)
class RevisionInfo:
    """One stored SBOM revision of a release (the document itself is fetched separately)."""

    number: int
    format: str
    spec_version: str
    digest: str
    media_type: str
    component_count: int
    imported_at: datetime
    imported_by: str
    serial_number: str | None = None
    document_timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class Release:
    """A stored release of a product, with its current SBOM revision if any."""

    product: str
    version: str
    state: LifecycleState
    created_at: datetime
    released_at: datetime | None = None
    support_end: date | None = None
    current_revision: RevisionInfo | None = None
    open_findings: int = field(default=0)
