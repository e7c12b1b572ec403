"""Normalised vulnerability intelligence.

Every source parser (``medwarden.intel.sources``) produces these frozen values.
Matching criteria stay symbolic: OSV ranges as their events, NVD configurations
as their node trees; nothing is expanded into version lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = [
    "Advisory",
    "AffectedPackage",
    "CpeConfiguration",
    "CpeMatch",
    "CpeNode",
    "EpssScore",
    "EventKind",
    "IntelRecord",
    "KevEntry",
    "Provenance",
    "RangeEvent",
    "RangeType",
    "Severity",
    "SeverityType",
    "Source",
    "VersionRange",
]


class Source(StrEnum):
    """Where a record came from."""

    NVD = "nvd"
    CVE5 = "cve5"
    OSV = "osv"
    KEV = "kev"
    EPSS = "epss"
    CSAF = "csaf"


class RangeType(StrEnum):
    """OSV range types (https://ossf.github.io/osv-schema/#affectedrangestype-field)."""

    SEMVER = "SEMVER"
    ECOSYSTEM = "ECOSYSTEM"
    GIT = "GIT"


class EventKind(StrEnum):
    """OSV range event kinds (https://ossf.github.io/osv-schema/#affectedrangesevents-fields)."""

    INTRODUCED = "introduced"
    FIXED = "fixed"
    LAST_AFFECTED = "last_affected"
    LIMIT = "limit"


class SeverityType(StrEnum):
    """Score kinds carried by records; values are OSV's severity type strings."""

    CVSS_V2 = "CVSS_V2"
    CVSS_V3 = "CVSS_V3"
    CVSS_V4 = "CVSS_V4"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where and when a record was obtained, and the digest of the bytes it came from."""

    source: Source
    fetched_at: datetime
    digest: str
    origin: str | None = None
    license: str | None = None


@dataclass(frozen=True, slots=True)
class RangeEvent:
    """One event of an OSV range: ``introduced``, ``fixed``, ``last_affected`` or ``limit``."""

    kind: EventKind
    version: str


@dataclass(frozen=True, slots=True)
class VersionRange:
    """An OSV range: its type and its events in document order."""

    type: RangeType
    events: tuple[RangeEvent, ...]


@dataclass(frozen=True, slots=True)
class AffectedPackage:
    """An OSV ``affected[]`` entry: a package in an ecosystem and how it is affected.

    ``ecosystem`` is the full OSV string (``Debian:9``); ``name`` is canonical for the
    ecosystem family (see :func:`medwarden.core.ecosystems.normalize_name`).
    """

    ecosystem: str
    name: str
    ranges: tuple[VersionRange, ...] = ()
    versions: tuple[str, ...] = ()
    purl: str | None = None


@dataclass(frozen=True, slots=True)
class CpeMatch:
    """An NVD ``cpeMatch`` entry: a criteria CPE, vulnerable flag and version bounds."""

    criteria: str
    vulnerable: bool
    version_start_including: str | None = None
    version_start_excluding: str | None = None
    version_end_including: str | None = None
    version_end_excluding: str | None = None

    @property
    def has_range(self) -> bool:
        """Whether any version bound is given."""
        return any(
            (
                self.version_start_including,
                self.version_start_excluding,
                self.version_end_including,
                self.version_end_excluding,
            )
        )


@dataclass(frozen=True, slots=True)
class CpeNode:
    """An NVD configuration node: ``OR``/``AND`` over its CPE matches, maybe negated."""

    operator: str
    matches: tuple[CpeMatch, ...]
    negate: bool = False


@dataclass(frozen=True, slots=True)
class CpeConfiguration:
    """An NVD configuration: ``OR``/``AND`` over nodes (AND = app running on a platform)."""

    nodes: tuple[CpeNode, ...]
    operator: str = "OR"
    negate: bool = False


@dataclass(frozen=True, slots=True)
class Severity:
    """A score carried by a record: kind, vector, base score and who assigned it."""

    type: SeverityType
    vector: str
    base_score: float | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Advisory:
    """One vulnerability record from one source (an NVD CVE, an OSV entry, a CVE 5 record).

    ``withdrawn`` is set for OSV ``withdrawn`` and NVD/CVE ``Rejected`` records: such a
    record never matches.  ``modified`` decides which of two copies is newer.
    """

    id: str
    source: Source
    modified: datetime
    aliases: tuple[str, ...] = ()
    summary: str | None = None
    details: str | None = None
    published: datetime | None = None
    withdrawn: datetime | None = None
    severities: tuple[Severity, ...] = ()
    affected: tuple[AffectedPackage, ...] = ()
    configurations: tuple[CpeConfiguration, ...] = ()
    references: tuple[str, ...] = ()
    cwes: tuple[str, ...] = ()
    status: str | None = None
    provenance: Provenance | None = None
    exploit_references: tuple[str, ...] = ()
    """References the source marks as exploit evidence (NVD tag ``Exploit``, OSV type
    ``EVIDENCE``, CVE 5 tag ``exploit``): input to the SSVC *Exploitation* value."""

    @property
    def is_withdrawn(self) -> bool:
        """Whether the record was withdrawn or rejected and must not match."""
        return self.withdrawn is not None


@dataclass(frozen=True, slots=True)
class KevEntry:
    """A CISA Known Exploited Vulnerabilities catalog entry."""

    cve_id: str
    vendor: str
    product: str
    name: str
    date_added: datetime
    due_date: datetime | None = None
    known_ransomware: str | None = None
    required_action: str | None = None
    provenance: Provenance | None = None


@dataclass(frozen=True, slots=True)
class EpssScore:
    """A FIRST EPSS score for one CVE on one day."""

    cve_id: str
    score: float
    percentile: float
    score_date: datetime | None = None
    model_version: str | None = None
    provenance: Provenance | None = None


IntelRecord = Advisory | KevEntry | EpssScore
"""Anything a source parser yields."""
