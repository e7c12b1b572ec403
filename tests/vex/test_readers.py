"""Tests of the CycloneDX VEX and OpenVEX readers on every corpus VEX file."""

from __future__ import annotations

from pathlib import Path

import pytest

from medwarden.errors import VexError
from medwarden.vex.io import parse_vex_bytes, read_vex_file
from medwarden.vex.model import VexJustification as J
from medwarden.vex.model import VexStatus as S

FIXTURES = Path(__file__).parents[1] / "fixtures" / "vex"
CDX = FIXTURES / "cyclonedx"
OPENVEX = FIXTURES / "openvex"
SERIAL_3E = "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#"
JACKSON = "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0?type=jar"

# file -> [(vulnerability, status, justification, first product identifier)]
EXPECTED: dict[str, list[tuple[str, S, J | None, str]]] = {
    "bom-examples_CISA-Use-Cases_Case-1_vex-affected.json": [
        ("CVE-2021-44228", S.AFFECTED, None, "product-DEF")
    ],
    "bom-examples_CISA-Use-Cases_Case-1_vex-fixed.json": [
        ("CVE-2021-44228", S.FIXED, None, "product-DEF")
    ],
    "bom-examples_CISA-Use-Cases_Case-1_vex-not_affected.json": [
        ("CVE-2021-44228", S.NOT_AFFECTED, J.VULNERABLE_CODE_NOT_PRESENT, "product-ABC")
    ],
    "bom-examples_CISA-Use-Cases_Case-1_vex-under_investigation.json": [
        ("CVE-2021-44228", S.UNDER_INVESTIGATION, None, "product-GHI")
    ],
    "bom-examples_CISA-Use-Cases_Case-7_vex.json": [
        (
            "CVE-2021-44228",
            S.AFFECTED,
            None,
            "urn:cdx:cbb2cd68-2857-43b8-a10b-e8c03d277d18/1#product-ABC",
        ),
        (
            "CVE-2021-44228",
            S.NOT_AFFECTED,
            J.VULNERABLE_CODE_NOT_PRESENT,
            "urn:cdx:cbb2cd68-2857-43b8-a10b-e8c03d277d18/1#product-ABC",
        ),
        (
            "CVE-2021-44228",
            S.NOT_AFFECTED,
            J.VULNERABLE_CODE_NOT_PRESENT,
            "urn:cdx:e4c3eedc-4978-470c-ad02-6ffff63738ff/1#product-JKL",
        ),
        (
            "CVE-2021-44228",
            S.FIXED,
            None,
            "urn:cdx:e4c3eedc-4978-470c-ad02-6ffff63738ff/1#product-JKL",
        ),
    ],
    "bom-examples_Use-Cases_Case-1_vex.json": [
        ("CVE-2020-25649", S.NOT_AFFECTED, J.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH, "acme-product")
    ],
    "bom-examples_Use-Cases_Case-6_vex.json": [
        (
            "CVE-2020-25649",
            S.NOT_AFFECTED,
            J.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH,
            "urn:cdx:2c385cf7-e1ee-46e9-a51c-13de1ecb380a/1#acme-product-1",
        )
    ],
    "bom-examples_vex.json": [
        (
            "CVE-2020-25649",
            S.NOT_AFFECTED,
            J.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH,
            SERIAL_3E + JACKSON,
        )
    ],
    "guac_cyclonedx-unaffected-vex.json": [
        (
            "CVE-2020-25649",
            S.NOT_AFFECTED,
            J.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH,
            SERIAL_3E + JACKSON,
        )
    ],
    "guac_cyclonedx-vex-affected.json": [
        ("CVE-2021-44228", S.AFFECTED, None, SERIAL_3E + "product-ABC")
    ],
    "guac_cyclonedx-vex-false-positive.json": [
        (
            "CVE-2024-0002",
            S.NOT_AFFECTED,
            None,
            "urn:uuid:4e671687-395b-41f5-a30f-a58921a69b80/1#test-component-2",
        ),
        (
            "CVE-2024-0004",
            S.NOT_AFFECTED,
            None,
            "urn:uuid:4e671687-395b-41f5-a30f-a58921a69b80/1#test-component-2-no-detail",
        ),
    ],
    "guac_cyclonedx-vex-no-analysis.json": [
        ("CVE-2021-44228", S.AFFECTED, None, SERIAL_3E + "product-ABC")
    ],
    "guac_cyclonedx-vex-resolved-with-pedigree.json": [
        (
            "CVE-2024-0001",
            S.FIXED,
            None,
            "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79/1#test-component",
        ),
        (
            "CVE-2024-0003",
            S.FIXED,
            None,
            "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79/1#test-component-no-detail",
        ),
    ],
    "guac_cyclonedx-vex.xml": [
        (
            "CVE-2018-7489",
            S.NOT_AFFECTED,
            J.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH,
            SERIAL_3E + "jackson-databind-2.8.0",
        )
    ],
    "trivy_testdata_cyclonedx-vex.json": [
        (
            "CVE-2021-44228",
            S.NOT_AFFECTED,
            J.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH,
            SERIAL_3E + "pkg:maven/org.springframework.boot/spring-boot@2.6.0",
        ),
        (
            "CVE-2022-27943",
            S.NOT_AFFECTED,
            None,
            SERIAL_3E + "pkg:deb/ubuntu/libstdc%2B%2B6@12.3.0-1ubuntu1~22.04?arch=amd64"
            "&distro=ubuntu-22.04",
        ),
    ],
    "guac_open-vex-affected.json": [
        ("CVE-1234-5678", S.AFFECTED, None, "pkg:apk/wolfi/bash@1.0.0")
    ],
    "guac_open-vex-not-affected.json": [
        (
            "CVE-2023-12345",
            S.NOT_AFFECTED,
            J.INLINE_MITIGATIONS_ALREADY_EXIST,
            "pkg:oci/git@sha256:23a264e6e429852221a963e9f17338ba3f5796dc7086e46439a6f4482cf6e0cb",
        )
    ],
    "trivy_testdata_openvex.json": [
        (
            "CVE-2021-44228",
            S.NOT_AFFECTED,
            J.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH,
            "pkg:maven/org.springframework.boot/spring-boot@2.6.0",
        )
    ],
}

NOT_VEX = [
    "bom-examples_CISA-Use-Cases_Case-7_bom-1.json",
    "bom-examples_CISA-Use-Cases_Case-7_bom-2.json",
    "bom-examples_Use-Cases_Case-6_bom-1.json",
    "bom-examples_bom.json",
]


def _path(name: str) -> Path:
    return CDX / name if (CDX / name).exists() else OPENVEX / name


def test_every_corpus_file_is_covered() -> None:
    """Every copied VEX fixture has expected statements, an expected error or its own test."""
    own_tests = {"trivy_project_oci.openvex.json", "trivy_project_trivy.openvex.json"}
    names = {p.name for p in FIXTURES.rglob("*") if p.suffix in (".json", ".xml")}
    assert names == set(EXPECTED) | set(NOT_VEX) | own_tests


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reader_yields_expected_statements(name: str) -> None:
    """Each corpus VEX file reads into the statements it declares, in document order."""
    statements = read_vex_file(_path(name))
    got = [
        (s.vulnerability, s.status, s.justification, s.products[0].identifiers[0])
        for s in statements
    ]
    assert got == EXPECTED[name]
    assert all(s.document == str(_path(name)) for s in statements)


@pytest.mark.parametrize("name", NOT_VEX)
def test_bom_without_vulnerabilities_is_not_a_vex(name: str) -> None:
    """A CycloneDX BOM with no vulnerabilities section is refused, located at /vulnerabilities."""
    with pytest.raises(VexError) as caught:
        read_vex_file(_path(name))
    assert caught.value.location is not None
    assert caught.value.location.pointer == "/vulnerabilities"


def test_cyclonedx_keeps_spec_values_and_aliases() -> None:
    """CycloneDX references become aliases; the original state and justification are kept."""
    (statement,) = read_vex_file(CDX / "bom-examples_vex.json")
    assert statement.aliases == ("SNYK-JAVA-COMFASTERXMLJACKSONCORE-1048302",)
    assert statement.source_status == "not_affected"
    assert statement.source_justification == "code_not_reachable"
    assert statement.detail is not None
    assert statement.detail.startswith("Automated dataflow analysis")


def test_cyclonedx_false_positive_maps_to_not_affected() -> None:
    """CycloneDX false_positive reads as not_affected with the raw state preserved."""
    statements = read_vex_file(CDX / "guac_cyclonedx-vex-false-positive.json")
    assert {s.source_status for s in statements} == {"false_positive"}
    assert statements[0].products[0].versions == ("1.0.0",)


def test_cyclonedx_ranges_are_recorded() -> None:
    """CycloneDX affects[].versions ranges and exact versions are both kept on the product."""
    statements = read_vex_file(CDX / "bom-examples_CISA-Use-Cases_Case-7_vex.json")
    product = statements[0].products[0]
    assert product.versions == ("2.4", "2.6")
    assert product.ranges == ("vers:generic/>=2.9|<=4.1",)


def test_openvex_subcomponents_and_aliases() -> None:
    """OpenVEX v0.2 statements keep per-product subcomponents and vulnerability aliases."""
    statements = read_vex_file(OPENVEX / "trivy_project_trivy.openvex.json")
    assert len(statements) == 21
    first = statements[0]
    assert first.vulnerability == "GO-2024-2575"
    assert first.aliases == ("CVE-2024-26147", "GHSA-r53h-jv2g-vpx6")
    assert first.products[0].subcomponents == (("pkg:golang/helm.sh/helm/v3",),)
    assert first.impact_statement == "Govulncheck determined that the vulnerable code isn't called"
    assert {s.status for s in statements} == {S.NOT_AFFECTED}


def test_openvex_products_with_several_roots() -> None:
    """An OpenVEX statement naming three image products keeps all three with their subcomponents."""
    statements = read_vex_file(OPENVEX / "trivy_project_oci.openvex.json")
    assert len(statements) == 7
    assert len(statements[0].products) == 3
    assert ("pkg:apk/alpine/busybox",) in statements[0].products[0].subcomponents


@pytest.mark.parametrize(
    ("data", "pointer"),
    [
        (
            b'{"statements": [{"vulnerability": {"name": "CVE-1"}, "products": '
            b'[{"@id": "pkg:npm/a"}], "status": "maybe"}]}',
            "/statements/0/status",
        ),
        (
            b'{"statements": [{"vulnerability": {"name": "CVE-1"}, "status": "affected"}]}',
            "/statements/0/products",
        ),
        (b'{"statements": []}', "/statements"),
        (
            b'{"statements": [{"vulnerability": {"name": "CVE-1"}, "products": [{}],'
            b' "status": "fixed"}]}',
            "/statements/0/products/0",
        ),
        (
            b'{"bomFormat": "CycloneDX", "vulnerabilities": [{"id": "CVE-1", "analysis":'
            b' {"state": "sleepy"}, "affects": [{"ref": "a"}]}]}',
            "/vulnerabilities/0/analysis/state",
        ),
        (
            b'{"bomFormat": "CycloneDX", "vulnerabilities": [{"id": "CVE-1"}]}',
            "/vulnerabilities/0/affects",
        ),
        (
            b'{"bomFormat": "CycloneDX", "vulnerabilities": [{"affects": [{"ref": "a"}]}]}',
            "/vulnerabilities/0/id",
        ),
        (b'{"hello": "world"}', ""),
    ],
)
def test_malformed_vex_raises_with_pointer(data: bytes, pointer: str) -> None:
    """Malformed VEX raises VexError located at the JSON pointer of the offending member."""
    with pytest.raises(VexError) as caught:
        parse_vex_bytes(data, source="bad.json")
    assert caught.value.location is not None
    assert caught.value.location.pointer == pointer
    assert "bad.json" in caught.value.diagnostics()


def test_broken_json_raises_with_line() -> None:
    """A VEX document that is not JSON raises VexError with the line of the syntax error."""
    with pytest.raises(VexError) as caught:
        parse_vex_bytes(b'{\n  "statements": [\n  oops\n]}', source="broken.json")
    assert caught.value.location is not None
    assert caught.value.location.line == 3


def test_xml_entity_expansion_is_refused() -> None:
    """An XML VEX with an entity declaration is refused by defusedxml, never expanded."""
    data = (
        b'<?xml version="1.0"?><!DOCTYPE bom [<!ENTITY a "aaaa">]>'
        b'<bom xmlns="http://cyclonedx.org/schema/bom/1.5">&a;</bom>'
    )
    with pytest.raises(VexError):
        parse_vex_bytes(data, source="evil.xml")


def test_xml_that_is_not_cyclonedx_is_refused() -> None:
    """An XML document that is not a CycloneDX BOM is refused."""
    with pytest.raises(VexError, match="not a CycloneDX BOM"):
        parse_vex_bytes(b"<root/>", source="other.xml")


def test_missing_file_raises_vex_error() -> None:
    """A VEX path that does not exist raises VexError naming the path."""
    with pytest.raises(VexError, match="cannot read"):
        read_vex_file(FIXTURES / "absent.json")
