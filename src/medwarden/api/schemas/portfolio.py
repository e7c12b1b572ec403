"""Products, releases, SBOM revisions, findings and field data as the API shows them."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from medwarden.intel.cvss import SeverityRating
from medwarden.portfolio.findings import Delta, FindingView, ImportResult
from medwarden.portfolio.installed import WhereUsed
from medwarden.portfolio.model import (
    DEFAULT_EOS_HORIZON_DAYS,
    DEFAULT_MONITORING_INTERVAL_S,
    DiscoveryMethod,
    LifecycleState,
    Market,
    Product,
    ProductSpec,
    Release,
    RevisionInfo,
)
from medwarden.services.support import EndOfSupportItem

__all__ = [
    "DeltaOut",
    "EndOfSupportOut",
    "FindingDetailOut",
    "FindingOut",
    "FindingReportIn",
    "ImportOut",
    "InstalledBaseOut",
    "MarketIO",
    "ProductIn",
    "ProductOut",
    "ReleaseIn",
    "ReleaseOut",
    "ReleaseStateIn",
    "RevisionOut",
    "WhereUsedOut",
]

_Text = Field(min_length=1, max_length=500)


class MarketIO(BaseModel):
    """A market and the regulatory regime there (``EU`` / ``MDR``)."""

    model_config = ConfigDict(extra="forbid")

    market: str = Field(min_length=1, max_length=50, pattern=r"\S")
    regime: str = Field(min_length=1, max_length=100, pattern=r"\S")


class ProductIn(BaseModel):
    """A product to create."""

    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$", examples=["pump-x2"])
    name: str = Field(min_length=1, max_length=200, pattern=r"\S")
    manufacturer: str | None = Field(default=None, max_length=200)
    device_model: str | None = Field(default=None, max_length=200)
    regulatory_class: str | None = Field(default=None, max_length=50)
    markets: list[MarketIO] = Field(default_factory=list, max_length=50)
    monitoring_interval_s: int = Field(default=DEFAULT_MONITORING_INTERVAL_S, ge=60, le=366 * 86400)
    support_end: date | None = None
    eos_horizon_days: int = Field(default=DEFAULT_EOS_HORIZON_DAYS, ge=0, le=36500)
    sbom_public: bool = Field(
        default=False, description="Serve released versions' current SBOMs without a token."
    )

    def spec(self) -> ProductSpec:
        """The domain spec."""
        return ProductSpec(
            slug=self.slug,
            name=self.name,
            manufacturer=self.manufacturer,
            device_model=self.device_model,
            regulatory_class=self.regulatory_class,
            markets=tuple(Market(m.market, m.regime) for m in self.markets),
            monitoring_interval_s=self.monitoring_interval_s,
            support_end=self.support_end,
            eos_horizon_days=self.eos_horizon_days,
            sbom_public=self.sbom_public,
        )


class ProductOut(BaseModel):
    """A stored product."""

    slug: str
    name: str
    manufacturer: str | None
    device_model: str | None
    regulatory_class: str | None
    markets: list[MarketIO]
    monitoring_interval_s: int
    support_end: date | None
    eos_horizon_days: int
    sbom_public: bool
    release_count: int
    created_at: datetime

    @classmethod
    def of(cls, p: Product) -> ProductOut:
        """The DTO of a product."""
        data = asdict(p)
        data["markets"] = [MarketIO(market=m.market, regime=m.regime) for m in p.markets]
        return cls(**data)


class ReleaseIn(BaseModel):
    """A release to create."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")
    state: LifecycleState = LifecycleState.IN_DEVELOPMENT
    released_at: datetime | None = None
    support_end: date | None = None


class ReleaseStateIn(BaseModel):
    """A lifecycle change, with the reason recorded in the audit trail."""

    model_config = ConfigDict(extra="forbid")

    state: LifecycleState
    reason: str | None = Field(default=None, max_length=2000)


class RevisionOut(BaseModel):
    """A stored SBOM revision (the document is fetched from the ``sbom`` link)."""

    number: int
    format: str
    spec_version: str
    digest: str = Field(description="SHA-256 of the document exactly as imported.")
    media_type: str
    component_count: int
    imported_at: datetime
    imported_by: str
    serial_number: str | None
    document_timestamp: datetime | None

    @classmethod
    def of(cls, r: RevisionInfo) -> RevisionOut:
        """The DTO of a revision."""
        return cls(**asdict(r))


class ReleaseOut(BaseModel):
    """A stored release with its current SBOM revision and open findings."""

    product: str
    version: str
    state: LifecycleState
    created_at: datetime
    released_at: datetime | None
    support_end: date | None
    current_revision: RevisionOut | None
    open_findings: int

    @classmethod
    def of(cls, r: Release) -> ReleaseOut:
        """The DTO of a release."""
        return cls(
            product=r.product,
            version=r.version,
            state=r.state,
            created_at=r.created_at,
            released_at=r.released_at,
            support_end=r.support_end,
            current_revision=None
            if r.current_revision is None
            else RevisionOut.of(r.current_revision),
            open_findings=r.open_findings,
        )


class DeltaOut(BaseModel):
    """What changed in the findings."""

    new: int
    changed: int
    reopened: int
    resolved: int
    components: int
    kev_findings: int
    policies_applied: int
    skipped: bool

    @classmethod
    def of(cls, d: Delta) -> DeltaOut:
        """The DTO of a delta."""
        return cls(**asdict(d))


class ImportOut(BaseModel):
    """What an SBOM upload did."""

    product: str
    release: str
    revision: int
    components: int
    identities_new: int
    identities_matched: int
    findings: DeltaOut
    warnings: list[str]
    not_analysed: list[dict[str, str]]

    @classmethod
    def of(cls, r: ImportResult, warnings: list[str], skipped: list[dict[str, str]]) -> ImportOut:
        """The DTO of an import."""
        return cls(
            product=r.product,
            release=r.release,
            revision=r.revision,
            components=r.components,
            identities_new=r.identities_new,
            identities_matched=r.identities_matched,
            findings=DeltaOut.of(r.delta),
            warnings=warnings,
            not_analysed=skipped,
        )


class FindingOut(BaseModel):
    """A finding as lists show it."""

    id: int
    product: str
    release: str
    component_name: str
    component_version: str | None
    component_purl: str | None
    vulnerability_id: str
    cve_id: str | None
    severity: SeverityRating
    state: str
    status: str
    discovered_at: datetime
    discovery_method: str
    discovery_source: str | None
    changed_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    kev: bool
    kev_date_added: datetime | None
    epss: float | None
    epss_percentile: float | None

    @classmethod
    def of(cls, f: FindingView) -> FindingOut:
        """The DTO of a finding."""
        data = asdict(f)
        data.pop("evidence")
        return cls(**data)


class FindingDetailOut(FindingOut):
    """A finding with its match evidence (ids, CVSS, fixed versions, every match)."""

    evidence: dict[str, Any] | None

    @classmethod
    def of(cls, f: FindingView) -> FindingDetailOut:
        """The DTO of a finding with evidence."""
        return cls(**asdict(f))


class FindingReportIn(BaseModel):
    """A finding reported by people; how it was discovered is required (REQUIREMENTS 11)."""

    model_config = ConfigDict(extra="forbid")

    component_ref: str = _Text
    vulnerability_id: str = Field(min_length=1, max_length=200, pattern=r"\S")
    discovery_method: DiscoveryMethod = Field(
        description="researcher_report, internal_test, customer_complaint or isao."
    )
    discovery_source: str = Field(
        min_length=1, max_length=500, pattern=r"\S", description="Who or what reported it."
    )
    severity: SeverityRating = SeverityRating.UNKNOWN
    detail: str | None = Field(default=None, max_length=10_000)
    discovered_at: datetime | None = None


class WhereUsedOut(BaseModel):
    """A release whose current SBOM holds the component, and the units running it."""

    product: str
    release: str
    state: LifecycleState
    ref: str
    name: str
    version: str | None
    purl: str | None
    units: int

    @classmethod
    def of(cls, w: WhereUsed) -> WhereUsedOut:
        """The DTO."""
        return cls(**asdict(w))


class EndOfSupportOut(BaseModel):
    """A component that needs attention for its end of support."""

    product: str
    release: str
    ref: str
    component: str
    reason: str
    end_of_support: date | None
    level: str | None

    @classmethod
    def of(cls, item: EndOfSupportItem) -> EndOfSupportOut:
        """The DTO."""
        return cls(**asdict(item))


class InstalledBaseOut(BaseModel):
    """What an installed-base upload did."""

    units: int
    new: int
    updated: int
