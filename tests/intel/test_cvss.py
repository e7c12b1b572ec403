"""CVSS scoring of real vectors and the choice of a finding's severity."""

from __future__ import annotations

from dataclasses import replace

import pytest

from medwarden.intel.cvss import (
    CvssVectorError,
    choose_severity,
    rating_for,
    score_severities,
    score_vector,
)
from medwarden.intel.model import Severity, SeverityType
from medwarden.matching.model import SeverityRating
from tests.matching import _corpus


@pytest.mark.parametrize(
    ("vector", "version", "score", "rating"),
    [
        # CVE-2022-37434 (NVD primary)
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.1", 9.8, SeverityRating.CRITICAL),
        # CVE-2015-9235 (NVD v3.0 and v2)
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.0", 9.8, SeverityRating.CRITICAL),
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P", "2.0", 7.5, SeverityRating.HIGH),
        # GHSA-jjg7-2v4v-x38h (v4.0)
        (
            "CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N",
            "4.0",
            6.9,
            SeverityRating.MEDIUM,
        ),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "3.1", 0.0, SeverityRating.NONE),
    ],
)
def test_real_vectors(vector: str, version: str, score: float, rating: SeverityRating) -> None:
    """Real vectors score as the specification says and rate on its qualitative scale."""
    scored = score_vector(vector, "nvd@nist.gov")
    assert (scored.version, scored.base_score, scored.rating) == (version, score, rating)
    assert scored.source == "nvd@nist.gov"


@pytest.mark.parametrize(
    "vector",
    [
        "",
        "garbage",
        "CVSS:3.1/AV:N",
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:4.0/AV:L",
        "CVSS:9.9/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/AV:L",
        "AV:N/AC:L",
    ],
)
def test_malformed_vectors_are_rejected(vector: str) -> None:
    """A malformed vector raises the typed error and is skipped by the batch scorer."""
    with pytest.raises(CvssVectorError):
        score_vector(vector)
    assert score_severities([Severity(SeverityType.CVSS_V3, vector)]) == ()


@pytest.mark.parametrize(
    ("version", "score", "rating"),
    [
        ("3.1", 0.1, SeverityRating.LOW),
        ("3.1", 3.9, SeverityRating.LOW),
        ("3.1", 4.0, SeverityRating.MEDIUM),
        ("4.0", 7.0, SeverityRating.HIGH),
        ("4.0", 8.9, SeverityRating.HIGH),
        ("4.0", 9.0, SeverityRating.CRITICAL),
        ("2.0", 10.0, SeverityRating.HIGH),
        ("2.0", 0.0, SeverityRating.LOW),
    ],
)
def test_rating_boundaries(version: str, score: float, rating: SeverityRating) -> None:
    """The rating scale's boundaries are those of the specifications (NVD's for v2)."""
    assert rating_for(version, score) is rating


def test_nvd_primary_preferred_within_a_version() -> None:
    """CVE-2021-43784: NVD's own v3.1 (5.0) wins over GitHub's secondary v3.1 (6.0) and v2."""
    rating, scores = choose_severity([_corpus.nvd("CVE-2021-43784")])
    assert rating is SeverityRating.MEDIUM
    assert [(s.version, s.base_score, s.source) for s in scores] == [
        ("3.1", 5.0, "nvd@nist.gov"),
        ("3.1", 6.0, "security-advisories@github.com"),
        ("2.0", 6.0, "nvd@nist.gov"),
    ]


def test_v4_preferred_over_v3() -> None:
    """GHSA-jjg7-2v4v-x38h carries v3.1 and v4.0; v4.0 is chosen."""
    rating, scores = choose_severity([_corpus.osv("GHSA-jjg7-2v4v-x38h")])
    assert scores[0].version == "4.0"
    assert rating is SeverityRating.MEDIUM


def test_v3_preferred_over_v2() -> None:
    """CVE-2015-9235 carries v3.0 and v2; v3.0 is chosen."""
    rating, scores = choose_severity([_corpus.nvd("CVE-2015-9235")])
    assert [s.version for s in scores] == ["3.0", "2.0"]
    assert rating is SeverityRating.CRITICAL


def test_no_usable_score_is_unknown() -> None:
    """Records with no vector, or only malformed ones, rate unknown without crashing."""
    record = _corpus.nvd("CVE-2022-37434")
    broken = replace(record, severities=(Severity(SeverityType.CVSS_V3, "CVSS:3.1/nonsense"),))
    assert choose_severity([broken]) == (SeverityRating.UNKNOWN, ())
    assert choose_severity([]) == (SeverityRating.UNKNOWN, ())


def test_cvss4_safety_values_parse_and_count() -> None:
    """Supplemental Safety (S:P) parses without changing the score; MSI:S/MSA:S raise it."""
    base = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    assert score_vector(base).base_score == 9.3  # FIRST calculator value of this vector
    assert score_vector(base + "/S:P").base_score == 9.3
    no_impact = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N"
    safety = score_vector(no_impact + "/MSI:S/MSA:S")
    assert score_vector(no_impact).base_score == 0.0
    assert safety.base_score > 9.0
    assert safety.rating is SeverityRating.CRITICAL
    with pytest.raises(CvssVectorError):
        score_vector(base + "/S:Q")
