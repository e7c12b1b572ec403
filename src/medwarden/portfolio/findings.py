"""Portfolio findings as people query them, and what a re-evaluation or import changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from medwarden.errors import UsageError
from medwarden.intel.cvss import SeverityRating
from medwarden.portfolio.model import DiscoveryMethod

__all__ = [
    "MAX_PAGE",
    "Delta",
    "FindingQuery",
    "FindingReport",
    "FindingView",
    "ImportResult",
]

MAX_PAGE = 500
"""The most findings one page returns."""

_STATES = frozenset({"open", "resolved"})
_STATUSES = frozenset({"under_investigation", "affected", "not_affected", "fixed"})


@dataclass(frozen=True, slots=True)
class FindingQuery:
    """Filters of a findings list; pages are keyed by finding id (``after``).

    ``products`` limits the list to those product slugs (None: every product the caller
    may see); ``min_severity`` keeps findings at or above a rating; ``kev`` keeps only
    (or, when false, excludes) findings whose CVE is in CISA KEV; ``new_since`` keeps
    findings discovered at or after that time."""

    products: frozenset[str] | None = None
    release: str | None = None
    min_severity: SeverityRating | None = None
    kev: bool | None = None
    state: str | None = "open"
    status: str | None = None
    vulnerability: str | None = None
    new_since: datetime | None = None
    after: int = 0
    limit: int = 50

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise UsageError(f"page size must be between 1 and {MAX_PAGE}, not {self.limit}")
        if self.state is not None and self.state not in _STATES:
            raise UsageError(f"unknown finding state {self.state!r}; use open or resolved")
        if self.status is not None and self.status not in _STATUSES:
            raise UsageError(f"unknown triage status {self.status!r}")
        if self.release is not None and (self.products is None or len(self.products) != 1):
            raise UsageError("filtering by release needs exactly one product")
        if self.new_since is not None and self.new_since.tzinfo is None:
            raise UsageError("new_since must carry a time zone")


@dataclass(frozen=True, slots=True)
class FindingView:
    """One finding with what a list shows about it."""

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
    resolved_at: datetime | None = None
    resolution: str | None = None
    kev: bool = False
    kev_date_added: datetime | None = None
    epss: float | None = None
    epss_percentile: float | None = None
    evidence: dict[str, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True, slots=True)
class FindingReport:
    """A finding people reported rather than a feed (REQUIREMENTS 11): how it was discovered
    is required; ``source`` names who (researcher, ISAO, test campaign, complaint id)."""

    component_ref: str
    vulnerability_id: str
    method: DiscoveryMethod
    source: str
    severity: SeverityRating = SeverityRating.UNKNOWN
    detail: str | None = None
    discovered_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.method is DiscoveryMethod.FEED:
            raise UsageError("feed findings come from intelligence; report another method")
        for name in ("component_ref", "vulnerability_id", "source"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or len(value) > 500:
                raise UsageError(f"a reported finding needs a {name.replace('_', ' ')}")
        if self.discovered_at is not None and self.discovered_at.tzinfo is None:
            raise UsageError("discovered_at must carry a time zone")

    @property
    def cve_id(self) -> str | None:
        """The vulnerability id if it is a CVE id."""
        vid = self.vulnerability_id.strip().upper()
        return vid if vid.startswith("CVE-") else None


@dataclass(frozen=True, slots=True)
class Delta:
    """What a re-evaluation changed: findings new, changed, reopened, resolved."""

    new: int = 0
    changed: int = 0
    reopened: int = 0
    resolved: int = 0
    components: int = 0
    kev_findings: int = 0
    policies_applied: int = 0
    skipped: bool = False

    def as_counts(self) -> dict[str, int]:
        """The counts as a plain mapping (monitoring runs and audit events record it)."""
        return {
            "new": self.new,
            "changed": self.changed,
            "reopened": self.reopened,
            "resolved": self.resolved,
            "components": self.components,
            "kev_findings": self.kev_findings,
            "policies_applied": self.policies_applied,
        }


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What importing an SBOM revision did."""

    product: str
    release: str
    revision: int
    components: int
    identities_new: int
    identities_matched: int
    delta: Delta
