"""The notifications a portfolio change gives rise to: new findings and KEV additions.

New findings are grouped per (product, vulnerability): one advisory hitting 400
releases of a product is one message saying so, not 400 messages.  Dedupe keys are
stable, so enqueuing the same change twice delivers it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from medwarden.intel.cvss import SeverityRating
from medwarden.notify.model import Notification, NotificationKind

__all__ = ["FindingGroup", "kev_notices", "new_finding_notices"]

_BY_RANK = {rating.rank: rating for rating in SeverityRating}


@dataclass(frozen=True, slots=True)
class FindingGroup:
    """Findings of one vulnerability in one product, as one notification reports them."""

    product: str
    vulnerability_id: str
    severity_rank: int
    findings: int
    releases: tuple[str, ...]
    first_finding: int
    cve_id: str | None = None

    @property
    def severity(self) -> SeverityRating:
        """The highest severity among the group's findings."""
        return _BY_RANK.get(self.severity_rank, SeverityRating.UNKNOWN)


def _payload(group: FindingGroup) -> dict[str, object]:
    return {
        "product": group.product,
        "vulnerability_id": group.vulnerability_id,
        "cve_id": group.cve_id,
        "severity": group.severity.value,
        "findings": group.findings,
        "releases": list(group.releases),
    }


def _releases(group: FindingGroup) -> str:
    shown = ", ".join(group.releases[:5])
    more = len(group.releases) - 5
    return shown + (f" and {more} more" if more > 0 else "")


def new_finding_notices(groups: list[FindingGroup], at: datetime) -> list[Notification]:
    """One NEW_FINDING notification per group."""
    return [
        Notification(
            kind=NotificationKind.NEW_FINDING,
            at=at,
            subject=(
                f"[{g.severity.value}] {g.vulnerability_id} affects {g.product} {_releases(g)}"
            ),
            dedupe_key=f"new_finding:{g.product}:{g.vulnerability_id}:{g.first_finding}",
            product=g.product,
            severity=g.severity,
            payload=_payload(g),
        )
        for g in groups
    ]


def kev_notices(groups: list[FindingGroup], at: datetime, kev_seq: int) -> list[Notification]:
    """One KEV_ADDITION notification per group of open findings of a newly listed CVE."""
    return [
        Notification(
            kind=NotificationKind.KEV_ADDITION,
            at=at,
            subject=(
                f"[KEV] {g.cve_id or g.vulnerability_id} is exploited in the wild and affects "
                f"{g.product} {_releases(g)}"
            ),
            dedupe_key=f"kev:{g.product}:{g.cve_id or g.vulnerability_id}:{kev_seq}",
            product=g.product,
            severity=g.severity,
            payload=_payload(g),
        )
        for g in groups
    ]
