"""Results of matching: matches with evidence, findings, skipped components.

A :class:`Match` is one advisory record matching one component by one method.
Matches of the same vulnerability (linked through aliases: CVE, GHSA, GO-, distro
ids) on the same component fold into one :class:`Finding` that lists every id and
keeps every piece of evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from medwarden.intel.cvss import ScoredSeverity, SeverityRating
from medwarden.intel.model import EpssScore, KevEntry, Source

__all__ = [
    "Evidence",
    "Exploitation",
    "Finding",
    "Match",
    "MatchMethod",
    "ScoredSeverity",
    "SeverityRating",
    "SkipReason",
    "SkippedComponent",
    "Suppression",
]


class MatchMethod(StrEnum):
    """How a match was found."""

    PURL_RANGE = "purl-range"
    PURL_VERSION_LIST = "purl-version-list"
    CPE_CONFIGURATION = "cpe-configuration"


class Exploitation(StrEnum):
    """The SSVC *Exploitation* decision point, derived from intelligence.

    ``active``: the CVE is in CISA KEV; ``public_poc``: a source marks a reference as an
    exploit or exploitation evidence; ``none``: neither.  (Internal or ISAO reports of
    exploitation and manual overrides with rationale belong to triage, not to a scan.)
    See https://certcc.github.io/SSVC/reference/decision_points/exploitation/
    """

    NONE = "none"
    PUBLIC_POC = "public_poc"
    ACTIVE = "active"


class SkipReason(StrEnum):
    """Why a component could not be analysed (it is reported, never dropped)."""

    NO_IDENTIFIER = "no-identifier"
    NO_VERSION = "no-version"
    UNKNOWN_ECOSYSTEM = "unknown-ecosystem"
    MALFORMED_PURL = "malformed-purl"
    MALFORMED_CPE = "malformed-cpe"
    UNPARSABLE_VERSION = "unparsable-version"
    DISTRO_RELEASE_UNKNOWN = "distro-release-unknown"
    NO_INTELLIGENCE = "no-intelligence"


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a component matched an advisory record.

    ``identifier`` is what of the component matched (its purl or CPE); ``criteria`` is
    what of the record matched (``npm/lodash`` or a CPE match criteria); ``range`` is
    the version constraint in words (``>=4.0.0, <4.17.21``); ``confidence`` is 1.0
    for an exact package-URL match and lower for CPE heuristics.
    """

    method: MatchMethod
    record_id: str
    record_source: Source
    identifier: str
    criteria: str
    range: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Match:
    """One record matching one component, with evidence and the fixed versions it knows."""

    component_ref: str
    record_id: str
    evidence: Evidence
    fixed_versions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Suppression:
    """A VEX statement that suppresses a finding; the finding stays visible."""

    status: str
    justification: str | None
    statement: str | None
    document: str
    vulnerability: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One vulnerability on one component, with every id and every piece of evidence."""

    component_ref: str
    vulnerability_id: str
    ids: tuple[str, ...]
    matches: tuple[Match, ...]
    summary: str | None = None
    severity: SeverityRating = SeverityRating.UNKNOWN
    scores: tuple[ScoredSeverity, ...] = ()
    kev: KevEntry | None = None
    epss: EpssScore | None = None
    fixed_versions: tuple[str, ...] = ()
    suppression: Suppression | None = None
    exploitation: Exploitation = Exploitation.NONE
    exploit_references: tuple[str, ...] = ()

    @property
    def suppressed(self) -> bool:
        """Whether a VEX statement suppressed this finding."""
        return self.suppression is not None


@dataclass(frozen=True, slots=True)
class SkippedComponent:
    """A component that could not be (fully) analysed, and why."""

    component_ref: str
    reason: SkipReason
    detail: str
