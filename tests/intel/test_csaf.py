"""CSAF 2.0 advisories: corpus facts, matching, malformed input and damaged documents."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from medwarden.errors import IntelParseError
from medwarden.intel.files import iter_intel
from medwarden.intel.model import (
    Advisory,
    AffectedPackage,
    EventKind,
    RangeEvent,
    RangeType,
    SeverityType,
    Source,
    VersionRange,
)
from medwarden.intel.sources import PARSERS, IntelFormat, make_provenance, parse_csaf, sniff_json
from medwarden.intel.sources.csaf import CsafResult, parse_csaf_result
from medwarden.matching.engine import match_sbom
from medwarden.matching.memory import InMemoryIndex
from medwarden.sbom.model import Component, Sbom, SbomFormat

FETCHED = datetime(2026, 1, 1, tzinfo=UTC)
CSAF = Path(__file__).parents[1] / "fixtures" / "csaf"
FILES = sorted(p.name for p in CSAF.glob("*.json"))


def _load(name: str) -> list[Advisory]:
    return parse_csaf((CSAF / name).read_bytes(), fetched_at=FETCHED, origin=name)


def _result(document: Any) -> CsafResult:
    data = orjson.dumps(document)
    provenance = make_provenance(Source.CSAF, data, fetched_at=FETCHED, origin="t.json")
    return parse_csaf_result(document, provenance=provenance)


def _minimal(**status: list[str]) -> dict[str, Any]:
    """A small valid CSAF document with two PyPI products and one vers range product."""
    return {
        "document": {
            "category": "csaf_security_advisory",
            "csaf_version": "2.0",
            "title": "Example advisory",
            "publisher": {"category": "vendor", "name": "Example", "namespace": "https://e.x"},
            "tracking": {
                "id": "EX-2024-0001",
                "status": "final",
                "version": "1",
                "initial_release_date": "2024-01-01T00:00:00Z",
                "current_release_date": "2024-02-01T00:00:00Z",
            },
        },
        "product_tree": {
            "branches": [
                {
                    "category": "vendor",
                    "name": "Example",
                    "branches": [
                        {
                            "category": "product_version",
                            "name": "1.2.0",
                            "product": {
                                "name": "example-lib 1.2.0",
                                "product_id": "P1",
                                "product_identification_helper": {
                                    "purl": "pkg:pypi/Example_Lib@1.2.0"
                                },
                            },
                        },
                        {
                            "category": "product_version_range",
                            "name": "vers:pypi/>=3.0|<3.5",
                            "product": {
                                "name": "ranged-lib 3.x",
                                "product_id": "P3",
                                "product_identification_helper": {"purl": "pkg:pypi/ranged-lib"},
                            },
                        },
                    ],
                }
            ],
            "full_product_names": [
                {
                    "name": "other-lib 2.0.0",
                    "product_id": "P2",
                    "product_identification_helper": {"purl": "pkg:pypi/other-lib@2.0.0"},
                }
            ],
        },
        "vulnerabilities": [
            {
                "cve": "CVE-2024-0001",
                "notes": [{"category": "summary", "text": "Example flaw"}],
                "product_status": status,
            }
        ],
    }


def _scan(advisories: list[Advisory], *purls: str) -> set[tuple[str, str]]:
    components = tuple(Component(p, p, purl=p) for p in purls)
    outcome = match_sbom(
        Sbom(SbomFormat.CYCLONEDX_JSON, "1.6", components), InMemoryIndex(advisories)
    )
    return {(f.component_ref, f.vulnerability_id) for f in outcome.findings}


@pytest.mark.parametrize("name", FILES)
def test_every_corpus_file_parses(name: str) -> None:
    """Every corpus CSAF file parses into CSAF advisories with an id and a modified time."""
    for advisory in _load(name):
        assert advisory.source is Source.CSAF
        assert advisory.id
        assert advisory.modified.tzinfo is not None
        assert advisory.provenance is not None
        assert advisory.provenance.origin == name


def test_red_hat_vex_purl_through_relationship() -> None:
    """The RHSA VEX maps its known_affected relationship product to the rpm purl with epoch."""
    (advisory,) = _load("guac_rhsa-csaf.json")
    assert advisory.id == "redhat.com/RHSA-2023:1441#CVE-2023-0286"
    assert "CVE-2023-0286" in advisory.aliases
    assert advisory.status == "final"
    assert advisory.modified == datetime(2023, 3, 23, 11, 14, tzinfo=UTC)
    assert advisory.summary == "openssl: X.400 address type confusion in X.509 GeneralName"
    assert advisory.aliases == (
        "CVE-2023-0286",
        "https://bugzilla.redhat.com/show_bug.cgi?id=2164440",
    )
    assert advisory.cwes == ("CWE-704",)
    assert advisory.affected == (
        AffectedPackage(
            "Red Hat",
            "openssl",
            versions=("1:1.1.1k-7.el8_6",),
            purl="pkg:rpm/redhat/openssl@1.1.1k-7.el8_6?arch=x86_64&epoch=1",
        ),
    )
    assert advisory.configurations == ()
    (severity,) = advisory.severities
    assert severity.type is SeverityType.CVSS_V3
    assert severity.base_score == 7.4
    assert severity.source == "Red Hat Product Security"


def test_red_hat_fixed_only_gives_no_criteria() -> None:
    """An RHSA listing only fixed and known_not_affected products gives two bare advisories."""
    advisories = _load("oasis_rhsa-2021_5186.json")
    assert [a.aliases[0] for a in advisories] == ["CVE-2021-4104", "CVE-2021-4125"]
    assert all(a.id.startswith("redhat.com/RHSA-2021:5186#") for a in advisories)
    assert all(not a.affected and not a.configurations for a in advisories)
    assert "RHSA-2021:5186" not in advisories[0].aliases


def test_bsi_cpe_products_become_configurations() -> None:
    """The BSI advisory's five known_affected CPE 2.2 products become CPE 2.3 criteria."""
    (advisory,) = _load("oasis_bsi-2022-0001.json")
    assert advisory.id == "bsi.bund.de/BSI-2022-0001#CVE-2022-27193"
    assert advisory.aliases == ("CVE-2022-27193", "csaf-tools/CVRF-CSAF-Converter#78")
    assert advisory.published == datetime(2022, 3, 17, 13, 3, 42, 105000, tzinfo=UTC)
    criteria = [m.criteria for c in advisory.configurations for n in c.nodes for m in n.matches]
    assert len(criteria) == 5
    assert "cpe:2.3:a:csaf-tools:cvrf-csaf-converter:1.0.0-alpha:*:*:*:*:*:*:*" in criteria
    assert all(m.vulnerable for c in advisory.configurations for n in c.nodes for m in n.matches)


def test_csaf_vex_products_without_helpers_are_counted() -> None:
    """A CSAF-VEX example whose products have no purl or CPE counts them as unmapped."""
    document = orjson.loads((CSAF / "oasis_csaf_vex_2022-evd-uc-04-001.json").read_bytes())
    result = _result(document)
    (advisory,) = result.advisories
    assert advisory.id == "psirt.example.com/2022-EVD-UC-04-001#CVE-2021-44228"
    assert not advisory.affected
    assert not advisory.configurations
    assert result.unmapped == 3
    assert advisory.severities[0].vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"


def test_informational_advisory_without_vulnerabilities_is_empty() -> None:
    """A valid CSAF document with no vulnerabilities legitimately yields no records."""
    assert _load("oasis_rhsa-2019_1862.json") == []


def test_sniffing_and_loading_directory() -> None:
    """CSAF JSON is sniffed by csaf_version and loads through iter_intel and PARSERS."""
    document = orjson.loads((CSAF / "oasis_bsi-2022-0001.json").read_bytes())
    assert sniff_json(document) is IntelFormat.CSAF
    assert IntelFormat.CSAF in PARSERS
    records = list(iter_intel(CSAF, fetched_at=FETCHED))
    assert {r.source for r in records} == {Source.CSAF}
    assert len(records) == sum(len(_load(name)) for name in FILES)


def test_known_affected_purl_matches_and_not_affected_does_not() -> None:
    """A known_affected purl product matches its component; a known_not_affected one does not."""
    result = _result(_minimal(known_affected=["P1"], known_not_affected=["P2"]))
    assert result.unmapped == 0
    findings = _scan(result.advisories, "pkg:pypi/example-lib@1.2.0", "pkg:pypi/other-lib@2.0.0")
    assert findings == {("pkg:pypi/example-lib@1.2.0", "CVE-2024-0001")}


def test_vers_range_becomes_ecosystem_range() -> None:
    """A versionless purl under a simple vers range becomes an ECOSYSTEM range that matches."""
    (advisory,) = _result(_minimal(known_affected=["P3"])).advisories
    assert advisory.affected[0].ranges == (
        VersionRange(
            RangeType.ECOSYSTEM,
            (RangeEvent(EventKind.INTRODUCED, "3.0"), RangeEvent(EventKind.FIXED, "3.5")),
        ),
    )
    findings = _scan([advisory], "pkg:pypi/ranged-lib@3.2", "pkg:pypi/ranged-lib@3.5")
    assert findings == {("pkg:pypi/ranged-lib@3.2", "CVE-2024-0001")}


def test_unknown_product_ids_and_complex_vers_are_unmapped() -> None:
    """Unknown product ids and vers ranges using ``>`` are counted, not fatal."""
    document = _minimal(known_affected=["P3", "NOPE"])
    document["product_tree"]["branches"][0]["branches"][1]["name"] = "vers:pypi/>3.0"
    result = _result(document)
    assert result.unmapped == 2
    assert result.advisories[0].affected == ()


def _pointer(document: Any) -> str | None:
    with pytest.raises(IntelParseError) as info:
        _result(document)
    assert info.value.location is not None
    return info.value.location.pointer


def test_missing_document_section_is_an_error() -> None:
    """A CSAF file without its document object fails at /document."""
    document = _minimal(known_affected=["P1"])
    del document["document"]
    assert _pointer(document) == "/document"


def test_non_object_is_an_error() -> None:
    """A JSON array is not a CSAF document."""
    assert _pointer([1, 2]) == ""


@pytest.mark.parametrize(
    ("path", "value", "pointer"),
    [
        (("vulnerabilities",), {}, "/vulnerabilities"),
        (("vulnerabilities", 0, "cve"), 7, "/vulnerabilities/0/cve"),
        (
            ("vulnerabilities", 0, "product_status", "known_affected"),
            "P1",
            "/vulnerabilities/0/product_status/known_affected",
        ),
        (
            ("document", "tracking", "current_release_date"),
            None,
            "/document/tracking/current_release_date",
        ),
        (("document", "csaf_version"), "1.2", "/document/csaf_version"),
        (
            ("product_tree", "branches", 0, "branches", 0, "product", "product_id"),
            3,
            "/product_tree/branches/0/branches/0/product/product_id",
        ),
        (("product_tree", "full_product_names"), "x", "/product_tree/full_product_names"),
    ],
)
def test_wrong_types_fail_at_their_pointer(path: tuple[Any, ...], value: Any, pointer: str) -> None:
    """A wrong-typed or missing required value raises IntelParseError at its JSON pointer."""
    document = _minimal(known_affected=["P1"])
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert _pointer(document) == pointer
