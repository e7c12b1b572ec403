"""CVSS vectors scored with the ``cvss`` library, and the choice of a finding's severity.

Ratings follow each specification's qualitative scale: CVSS v3.x and v4.0
(https://www.first.org/cvss/v3.1/specification-document#Qualitative-Severity-Rating-Scale,
https://www.first.org/cvss/v4.0/specification-document#Qualitative-Severity-Rating-Scale)
rate 0.0 none, 0.1-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0-10.0 critical.  CVSS v2
has no scale of its own; NVD's (0.0-3.9 low, 4.0-6.9 medium, 7.0-10.0 high) is used.

The version is read from the vector itself (``CVSS:4.0/``, ``CVSS:3.1/``, ``CVSS:3.0/``,
or none for v2), not from the record's claimed type.  Malformed vectors are skipped:
:func:`score_severities` never raises.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from cvss import CVSS2, CVSS3, CVSS4, CVSSError

from medwarden.intel.model import Advisory, Severity

__all__ = [
    "NVD_PRIMARY_SOURCE",
    "CvssVectorError",
    "ScoredSeverity",
    "SeverityRating",
    "choose_severity",
    "rating_for",
    "score_severities",
    "score_vector",
]

NVD_PRIMARY_SOURCE = "nvd@nist.gov"
"""The ``source`` NVD gives its own (primary) CVSS assessments."""

_VERSION_RANK = {"4.0": 0, "3.1": 1, "3.0": 2, "2.0": 3}


class SeverityRating(StrEnum):
    """Qualitative severity (CVSS v3.1/v4.0 rating scale), ordered by :attr:`rank`."""

    NONE = "none"
    UNKNOWN = "unknown"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Order for thresholds: none < unknown < low < medium < high < critical."""
        return _RANKS[self]


_RANKS = {
    SeverityRating.NONE: 0,
    SeverityRating.UNKNOWN: 1,
    SeverityRating.LOW: 2,
    SeverityRating.MEDIUM: 3,
    SeverityRating.HIGH: 4,
    SeverityRating.CRITICAL: 5,
}


@dataclass(frozen=True, slots=True)
class ScoredSeverity:
    """A CVSS vector parsed and scored by the ``cvss`` library."""

    version: str
    vector: str
    base_score: float
    rating: SeverityRating
    source: str | None = None


class CvssVectorError(ValueError):
    """A CVSS vector is malformed or of an unknown version."""


def rating_for(version: str, score: float) -> SeverityRating:
    """Return the qualitative rating of ``score`` on the scale of CVSS ``version``."""
    if version == "2.0":
        if score >= 7.0:
            return SeverityRating.HIGH
        return SeverityRating.MEDIUM if score >= 4.0 else SeverityRating.LOW
    if score == 0.0:
        return SeverityRating.NONE
    if score >= 9.0:
        return SeverityRating.CRITICAL
    if score >= 7.0:
        return SeverityRating.HIGH
    return SeverityRating.MEDIUM if score >= 4.0 else SeverityRating.LOW


def _base_score(vector: str) -> tuple[str, float]:
    """Return (version, base score) of a vector; raise :class:`CvssVectorError`."""
    try:
        if vector.startswith("CVSS:4.0/"):
            return "4.0", float(CVSS4(vector).base_score)
        if vector.startswith(("CVSS:3.1/", "CVSS:3.0/")):
            return vector[5:8], float(CVSS3(vector).base_score)
        if not vector.startswith("CVSS:"):
            return "2.0", float(CVSS2(vector).base_score)
    except (CVSSError, ValueError, KeyError, TypeError) as exc:
        raise CvssVectorError(f"malformed CVSS vector {vector!r}: {exc}") from exc
    raise CvssVectorError(f"unknown CVSS version in vector {vector!r}")


def score_vector(vector: str, source: str | None = None) -> ScoredSeverity:
    """Score one CVSS v2/v3.x/v4.0 vector; raise :class:`CvssVectorError` when malformed."""
    return _score_cached(vector.strip(), source)


@lru_cache(maxsize=16384)
def _score_cached(text: str, source: str | None) -> ScoredSeverity:
    """Scoring is pure and the same vectors recur across findings: cache it."""
    version, score = _base_score(text)
    return ScoredSeverity(version, text, score, rating_for(version, score), source)


def score_severities(severities: Iterable[Severity]) -> tuple[ScoredSeverity, ...]:
    """Score every well-formed vector, skipping malformed ones; never raises."""
    scored: list[ScoredSeverity] = []
    for severity in severities:
        try:
            scored.append(score_vector(severity.vector, severity.source))
        except CvssVectorError:
            continue
    return tuple(scored)


def _preference(score: ScoredSeverity) -> tuple[int, int, float, str, str]:
    """Sort key: newer CVSS version, then NVD primary, then higher score, then text."""
    primary = 0 if score.source == NVD_PRIMARY_SOURCE else 1
    return (
        _VERSION_RANK.get(score.version, 9),
        primary,
        -score.base_score,
        score.source or "",
        score.vector,
    )


def choose_severity(
    records: Iterable[Advisory],
) -> tuple[SeverityRating, tuple[ScoredSeverity, ...]]:
    """Return a finding's rating and all its scores, the chosen one first.

    Preference: CVSS v4.0, then v3.1, v3.0, then v2; within a version NVD's primary
    score (source ``nvd@nist.gov``) over others.  No usable score rates ``unknown``.
    """
    unique = {
        (s.version, s.vector, s.source): s
        for record in records
        for s in score_severities(record.severities)
    }
    scores = tuple(sorted(unique.values(), key=_preference))
    return (scores[0].rating if scores else SeverityRating.UNKNOWN), scores
