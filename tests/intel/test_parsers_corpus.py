"""Every corpus intelligence file parses, with facts checked by hand against the files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from medwarden.intel.model import (
    Advisory,
    EventKind,
    RangeEvent,
    RangeType,
    SeverityType,
    Source,
)
from medwarden.intel.sources import (
    parse_cve5,
    parse_epss_csv,
    parse_kev_csv,
    parse_kev_json,
    parse_nvd,
    parse_osv,
)

FETCHED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
INTEL = Path(__file__).parents[1] / "fixtures" / "intel"


def _one(parser, path: Path) -> Advisory:  # type: ignore[no-untyped-def]
    records = parser(path.read_bytes(), fetched_at=FETCHED, origin=str(path))
    assert len(records) == 1
    return records[0]


@pytest.mark.parametrize("path", sorted((INTEL / "nvd").glob("*.json")), ids=lambda p: p.stem)
def test_every_nvd_file_parses(path: Path) -> None:
    """Each NVD file yields one advisory whose id is the file name, with provenance."""
    advisory = _one(parse_nvd, path)
    assert advisory.id == path.stem
    assert advisory.source is Source.NVD
    assert advisory.summary
    assert advisory.provenance is not None
    assert advisory.provenance.origin == str(path)
    assert len(advisory.provenance.digest) == 64


def test_nvd_and_configuration_of_zlib() -> None:
    """CVE-2022-37434 keeps its AND configuration of firmware (vulnerable) on hardware (not)."""
    advisory = _one(parse_nvd, INTEL / "nvd" / "CVE-2022-37434.json")
    assert len(advisory.configurations) == 10
    first = advisory.configurations[0]
    assert first.operator == "OR"
    assert first.nodes[0].matches[0].criteria == "cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*"
    assert first.nodes[0].matches[0].version_end_including == "1.2.12"
    and_config = advisory.configurations[4]
    assert and_config.operator == "AND"
    assert [len(n.matches) for n in and_config.nodes] == [1, 1]
    assert and_config.nodes[0].matches[0].vulnerable is True
    assert and_config.nodes[1].matches[0].vulnerable is False
    assert and_config.nodes[1].matches[0].criteria.startswith("cpe:2.3:h:netapp:h300s:")
    assert advisory.cwes == ("CWE-787",)
    assert advisory.status == "Modified"
    assert advisory.withdrawn is None


def test_nvd_keeps_primary_and_secondary_scores() -> None:
    """CVE-2020-15084 keeps the GitHub (Secondary) and NVD (Primary) scores, V3 and V2."""
    advisory = _one(parse_nvd, INTEL / "nvd" / "CVE-2020-15084.json")
    assert [(s.type, s.source) for s in advisory.severities] == [
        (SeverityType.CVSS_V3, "security-advisories@github.com"),
        (SeverityType.CVSS_V3, "nvd@nist.gov"),
        (SeverityType.CVSS_V2, "nvd@nist.gov"),
    ]
    assert all(s.base_score is not None for s in advisory.severities)


def test_nvd_without_configurations_has_none() -> None:
    """A record NVD has not analysed (CVE-2024-37890, Deferred) has no configurations."""
    advisory = _one(parse_nvd, INTEL / "nvd" / "CVE-2024-37890.json")
    assert advisory.configurations == ()
    assert advisory.status == "Deferred"


def test_nvd_api_envelope() -> None:
    """The API response page CVE-2024-3094.json yields its one cve, with dates in UTC."""
    advisory = _one(parse_nvd, INTEL / "nvd" / "CVE-2024-3094.json")
    assert advisory.id == "CVE-2024-3094"
    assert advisory.published is not None
    assert advisory.published.tzinfo is UTC
    assert (
        advisory.configurations[0].nodes[0].matches[0].criteria.startswith("cpe:2.3:a:tukaani:xz:")
    )


@pytest.mark.parametrize("path", sorted((INTEL / "osv").glob("*.json")), ids=lambda p: p.stem)
def test_every_osv_file_parses(path: Path) -> None:
    """Each OSV file yields one advisory with aliases and at least one affected package."""
    advisory = _one(parse_osv, path)
    assert advisory.id == path.stem
    assert advisory.affected
    assert all(r.events for a in advisory.affected for r in a.ranges)


def test_go_record_ranges() -> None:
    """GO-2022-0493 has stdlib and golang.org/x/sys with introduced/fixed pairs in order."""
    advisory = _one(parse_osv, INTEL / "osv" / "GO-2022-0493.json")
    assert advisory.aliases == ("CVE-2022-29526", "GHSA-p782-xgp4-8hr8")
    stdlib, xsys = advisory.affected
    assert (stdlib.ecosystem, stdlib.name) == ("Go", "stdlib")
    assert stdlib.ranges[0].type is RangeType.SEMVER
    assert [(e.kind, e.version) for e in stdlib.ranges[0].events] == [
        (EventKind.INTRODUCED, "0"),
        (EventKind.FIXED, "1.17.10"),
        (EventKind.INTRODUCED, "1.18.0-0"),
        (EventKind.FIXED, "1.18.2"),
    ]
    assert xsys.name == "golang.org/x/sys"
    assert xsys.ranges[0].events[-1] == RangeEvent(
        EventKind.FIXED, "0.0.0-20220412211240-33da011f77ad"
    )


def test_ghsa_last_affected() -> None:
    """GHSA-w3h3-4rj7-4ph4 (gunicorn) is affected up to and including 21.2.0."""
    advisory = _one(parse_osv, INTEL / "osv" / "GHSA-w3h3-4rj7-4ph4.json")
    (package,) = advisory.affected
    assert (package.ecosystem, package.name) == ("PyPI", "gunicorn")
    assert package.ranges[0].events == (
        RangeEvent(EventKind.INTRODUCED, "0"),
        RangeEvent(EventKind.LAST_AFFECTED, "21.2.0"),
    )
    assert advisory.cwes == ("CWE-444",)
    assert advisory.aliases == ("CVE-2024-1135",)


def test_osv_names_are_normalised_per_ecosystem() -> None:
    """PyPI names are PEP 503-normalised and NuGet names lower-cased; npm keeps its case."""
    pyyaml = _one(parse_osv, INTEL / "osv" / "GHSA-8q59-q68h-6hv4.json")
    assert pyyaml.affected[0].name == "pyyaml"
    assert pyyaml.severities[0].type is SeverityType.CVSS_V3
    moment = _one(parse_osv, INTEL / "osv" / "GHSA-8hfj-j24r-96c4.json")
    assert {(a.ecosystem, a.name) for a in moment.affected} == {
        ("npm", "moment"),
        ("NuGet", "moment.js"),
    }


@pytest.mark.parametrize("path", sorted((INTEL / "cve5").glob("*.json")), ids=lambda p: p.stem)
def test_every_cve5_file_parses(path: Path) -> None:
    """Each CVE JSON 5 file yields one advisory named after the file, with a summary."""
    advisory = _one(parse_cve5, path)
    assert advisory.id == path.stem
    assert advisory.source is Source.CVE5
    assert advisory.summary


def test_cve5_go_cna_record_maps_to_go_module() -> None:
    """CVE-2023-39325 (Go CNA, 5.0) maps net/http to stdlib and x/net/http2 to its module."""
    advisory = _one(parse_cve5, INTEL / "cve5" / "CVE-2023-39325.json")
    names = [(a.ecosystem, a.name) for a in advisory.affected]
    assert names[:2] == [("Go", "stdlib"), ("Go", "golang.org/x/net")]
    events = advisory.affected[0].ranges[0].events
    assert events == (
        RangeEvent(EventKind.INTRODUCED, "0"),
        RangeEvent(EventKind.FIXED, "1.20.10"),
        RangeEvent(EventKind.INTRODUCED, "1.21.0-0"),
        RangeEvent(EventKind.FIXED, "1.21.3"),
    )
    assert advisory.affected[0].ranges[0].type is RangeType.ECOSYSTEM
    assert advisory.cwes == ("CWE-400",)


def test_cve5_published_record_with_adp_metrics() -> None:
    """CVE-2021-44228 takes its CVSS from the CISA ADP container and its date from metadata."""
    advisory = _one(parse_cve5, INTEL / "cve5" / "CVE-2021-44228.json")
    assert advisory.status == "PUBLISHED"
    assert advisory.modified == datetime(2025, 2, 4, 14, 25, 37, 215000, tzinfo=UTC)
    assert [(s.base_score, s.source) for s in advisory.severities] == [(10.0, "CISA-ADP")]
    assert "CWE-502" in advisory.cwes
    assert advisory.affected == ()  # vendor/product only: no package registry named


def test_kev_json_and_csv_agree() -> None:
    """The KEV JSON and CSV of the same day give the same 1,404 entries."""
    kev = INTEL / "kev"
    from_json = parse_kev_json((kev / "known_exploited_vulnerabilities.json").read_bytes())
    from_csv = parse_kev_csv((kev / "known_exploited_vulnerabilities.csv").read_bytes())
    assert len(from_json) == len(from_csv) == 1404
    assert from_json == from_csv
    first = from_json[0]
    assert (first.cve_id, first.vendor, first.product) == ("CVE-2025-48384", "Git", "Git")
    assert first.date_added == datetime(2025, 8, 25, tzinfo=UTC)
    assert first.due_date == datetime(2025, 9, 15, tzinfo=UTC)


def test_epss_subset() -> None:
    """The EPSS subset yields 22 scores carrying the model version and score date."""
    scores = parse_epss_csv((INTEL / "epss" / "epss_scores-subset.csv").read_bytes())
    assert len(scores) == 22
    log4shell = next(s for s in scores if s.cve_id == "CVE-2021-44228")
    assert (log4shell.score, log4shell.percentile) == (0.99999, 1.0)
    assert log4shell.model_version == "v2026.06.15"
    assert log4shell.score_date == datetime(2026, 9, 29, 12, 0, 22, tzinfo=UTC)
