"""Tests of apply_vex: which findings a VEX statement suppresses, and which it must not."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from medwarden.matching.model import Finding
from medwarden.sbom.model import Component, Sbom, SbomFormat
from medwarden.vex.apply import apply_vex, statement_covers
from medwarden.vex.io import read_vex_file
from medwarden.vex.model import ProductRef, VexJustification, VexStatement, VexStatus

FIXTURES = Path(__file__).parents[1] / "fixtures" / "vex"
SPRING = "pkg:maven/org.springframework.boot/spring-boot@2.6.0"
JACKSON = "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0?type=jar"


def _sbom(*components: Component, serial: str | None = None, root: str | None = None) -> Sbom:
    return Sbom(
        format=SbomFormat.CYCLONEDX_JSON,
        spec_version="1.6",
        components=components,
        serial_number=serial,
        root_ref=root,
    )


def _finding(ref: str, vuln: str, *aliases: str) -> Finding:
    return Finding(component_ref=ref, vulnerability_id=vuln, ids=(vuln, *aliases), matches=())


def _statement(
    vuln: str,
    status: VexStatus,
    *identifiers: str,
    aliases: tuple[str, ...] = (),
    when: datetime | None = None,
) -> VexStatement:
    return VexStatement(
        vulnerability=vuln,
        aliases=aliases,
        products=(ProductRef(identifiers=identifiers),),
        status=status,
        document="test.vex.json",
        timestamp=when,
        justification=VexJustification.COMPONENT_NOT_PRESENT
        if status is VexStatus.NOT_AFFECTED
        else None,
    )


def test_openvex_not_affected_suppresses_matching_purl() -> None:
    """trivy's OpenVEX not_affected for spring-boot 2.6.0 suppresses that finding, kept visible."""
    sbom = _sbom(Component(ref="c1", name="spring-boot", version="2.6.0", purl=SPRING))
    statements = read_vex_file(FIXTURES / "openvex" / "trivy_testdata_openvex.json")
    (finding,) = apply_vex([_finding("c1", "CVE-2021-44228")], sbom, statements)
    assert finding.suppression is not None
    assert finding.suppression.status == "not_affected"
    assert finding.suppression.justification == "vulnerable_code_not_in_execute_path"
    assert finding.suppression.document.endswith("trivy_testdata_openvex.json")


def test_other_vulnerability_is_not_suppressed() -> None:
    """A statement about one vulnerability leaves findings of other vulnerabilities active."""
    sbom = _sbom(Component(ref="c1", name="spring-boot", version="2.6.0", purl=SPRING))
    statements = read_vex_file(FIXTURES / "openvex" / "trivy_testdata_openvex.json")
    (finding,) = apply_vex([_finding("c1", "CVE-2022-22965")], sbom, statements)
    assert finding.suppression is None


def test_affected_and_under_investigation_stay_active() -> None:
    """affected and under_investigation statements never suppress a finding."""
    sbom = _sbom(Component(ref="c1", name="bash", version="1.0.0", purl="pkg:apk/wolfi/bash@1.0.0"))
    affected = read_vex_file(FIXTURES / "openvex" / "guac_open-vex-affected.json")
    investigating = _statement("CVE-1234-5678", VexStatus.UNDER_INVESTIGATION, "c1")
    for statements in (affected, [investigating]):
        (finding,) = apply_vex([_finding("c1", "CVE-1234-5678")], sbom, statements)
        assert finding.suppression is None


def test_project_vex_about_another_product_does_not_suppress() -> None:
    """trivy's VEX (product trivy, subcomponent helm) does not suppress helm in another product."""
    helm = Component(
        ref="helm", name="helm", version="3.14.0", purl="pkg:golang/helm.sh/helm/v3@3.14.0"
    )
    root = Component(ref="root", name="infusion-pump", purl="pkg:generic/acme/infusion-pump@4.2")
    statements = read_vex_file(FIXTURES / "openvex" / "trivy_project_trivy.openvex.json")
    finding = _finding("helm", "CVE-2024-26147", "GHSA-r53h-jv2g-vpx6")
    (result,) = apply_vex([finding], _sbom(root, helm, root="root"), statements)
    assert result.suppression is None


def test_project_vex_applies_inside_its_own_product() -> None:
    """The same VEX suppresses helm when the SBOM's root is the trivy module it speaks of."""
    helm = Component(
        ref="helm", name="helm", version="3.14.0", purl="pkg:golang/helm.sh/helm/v3@3.14.0"
    )
    root = Component(
        ref="root", name="trivy", purl="pkg:golang/github.com/aquasecurity/trivy@0.53.0"
    )
    statements = read_vex_file(FIXTURES / "openvex" / "trivy_project_trivy.openvex.json")
    finding = _finding("helm", "CVE-2024-26147", "GHSA-r53h-jv2g-vpx6")
    (result,) = apply_vex([finding], _sbom(root, helm, root="root"), statements)
    assert result.suppression is not None
    assert result.suppression.vulnerability == "GO-2024-2575"


def test_alias_match_vex_names_ghsa_finding_is_cve() -> None:
    """A statement naming the GHSA suppresses the finding whose primary id is the CVE."""
    sbom = _sbom(
        Component(ref="c1", name="lodash", version="4.17.20", purl="pkg:npm/lodash@4.17.20")
    )
    statement = _statement("GHSA-35jh-r3h4-6jhm", VexStatus.NOT_AFFECTED, "pkg:npm/lodash")
    finding = _finding("c1", "CVE-2021-23337", "GHSA-35jh-r3h4-6jhm")
    (result,) = apply_vex([finding], sbom, [statement])
    assert result.suppression is not None


def test_purl_without_version_matches_any_version_but_version_must_agree() -> None:
    """A versionless purl covers every version; a versioned purl only its own version."""
    component = Component(ref="c1", name="lodash", version="4.17.20", purl="pkg:npm/lodash@4.17.20")
    sbom = _sbom(component)
    any_version = _statement("CVE-1", VexStatus.NOT_AFFECTED, "pkg:npm/lodash")
    other_version = _statement("CVE-1", VexStatus.NOT_AFFECTED, "pkg:npm/lodash@4.17.21")
    other_name = _statement("CVE-1", VexStatus.NOT_AFFECTED, "pkg:npm/lodash-es")
    assert statement_covers(any_version, sbom, "c1")
    assert not statement_covers(other_version, sbom, "c1")
    assert not statement_covers(other_name, sbom, "c1")


def test_statement_qualifiers_must_be_a_subset() -> None:
    """Statement purl qualifiers must all appear on the component; extra component ones are fine."""
    purl = "pkg:apk/alpine/git@2.38.1-r0?arch=x86_64&distro=3.17"
    sbom = _sbom(Component(ref="c1", name="git", version="2.38.1-r0", purl=purl))
    same_arch = _statement(
        "CVE-1", VexStatus.NOT_AFFECTED, "pkg:apk/alpine/git@2.38.1-r0?arch=x86_64"
    )
    other_arch = _statement(
        "CVE-1", VexStatus.NOT_AFFECTED, "pkg:apk/alpine/git@2.38.1-r0?arch=ppc64le"
    )
    assert statement_covers(same_arch, sbom, "c1")
    assert not statement_covers(other_arch, sbom, "c1")


def test_bom_link_needs_this_sboms_serial_number() -> None:
    """A CycloneDX BOM-Link suppresses only in the SBOM whose serial number it names."""
    statements = read_vex_file(FIXTURES / "cyclonedx" / "bom-examples_vex.json")
    component = Component(ref=JACKSON, name="jackson-databind", version="2.10.0", purl=JACKSON)
    finding = _finding(JACKSON, "CVE-2020-25649")
    ours = _sbom(component, serial="urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79")
    theirs = _sbom(component, serial="urn:uuid:5f0f0da9-c03d-47d8-b38d-009e6df67094")
    assert apply_vex([finding], ours, statements)[0].suppressed
    assert not apply_vex([finding], theirs, statements)[0].suppressed
    assert not apply_vex([finding], _sbom(component), statements)[0].suppressed


def test_plain_bom_ref_matches_component() -> None:
    """A CycloneDX affects ref that is a plain bom-ref designates the component with that ref."""
    sbom = _sbom(Component(ref="lib-a", name="a", version="1"), Component(ref="lib-b", name="b"))
    statement = _statement("CVE-1", VexStatus.FIXED, "lib-a")
    found = apply_vex([_finding("lib-a", "CVE-1"), _finding("lib-b", "CVE-1")], sbom, [statement])
    assert [f.suppressed for f in found] == [True, False]
    assert found[0].suppression is not None
    assert found[0].suppression.status == "fixed"


def test_product_level_statement_covers_the_root_product() -> None:
    """A not_affected statement about the SBOM's root product covers its components' findings."""
    statements = read_vex_file(
        FIXTURES / "cyclonedx" / "bom-examples_CISA-Use-Cases_Case-1_vex-not_affected.json"
    )
    log4j = Component(ref="log4j", name="log4j-core", version="2.14.1")
    in_abc = _sbom(
        Component(ref="product-ABC", name="ABC", version="4.2"), log4j, root="product-ABC"
    )
    in_xyz = _sbom(
        Component(ref="product-XYZ", name="XYZ", version="1.0"), log4j, root="product-XYZ"
    )
    assert apply_vex([_finding("log4j", "CVE-2021-44228")], in_abc, statements)[0].suppressed
    assert not apply_vex([_finding("log4j", "CVE-2021-44228")], in_xyz, statements)[0].suppressed


def test_listed_versions_limit_the_statement() -> None:
    """A statement limited to listed versions covers only a component of such a version."""
    statement = VexStatement(
        vulnerability="CVE-1",
        products=(ProductRef(identifiers=("c1",), versions=("1.0.0",)),),
        status=VexStatus.NOT_AFFECTED,
        document="d",
    )
    v1 = _sbom(Component(ref="c1", name="x", version="1.0.0"))
    v2 = _sbom(Component(ref="c1", name="x", version="2.0.0"))
    assert statement_covers(statement, v1, "c1")
    assert not statement_covers(statement, v2, "c1")


def test_ranges_alone_never_widen_a_match() -> None:
    """A product limited only by vers: ranges (not evaluated) never suppresses: fail closed."""
    statement = VexStatement(
        vulnerability="CVE-1",
        products=(ProductRef(identifiers=("c1",), ranges=("vers:generic/>=1.0|<=2.3",)),),
        status=VexStatus.NOT_AFFECTED,
        document="d",
    )
    assert not statement_covers(
        statement, _sbom(Component(ref="c1", name="x", version="1.5")), "c1"
    )


def test_most_recent_statement_wins() -> None:
    """When statements disagree, the most recent one decides whether the finding is suppressed."""
    sbom = _sbom(Component(ref="c1", name="x", version="1"))
    early = datetime(2024, 1, 1, tzinfo=UTC)
    late = datetime(2024, 6, 1, tzinfo=UTC)
    not_affected = _statement("CVE-1", VexStatus.NOT_AFFECTED, "c1", when=early)
    affected = _statement("CVE-1", VexStatus.AFFECTED, "c1", when=late)
    assert not apply_vex([_finding("c1", "CVE-1")], sbom, [not_affected, affected])[0].suppressed
    newer_not_affected = _statement("CVE-1", VexStatus.NOT_AFFECTED, "c1", when=late)
    older_affected = _statement("CVE-1", VexStatus.AFFECTED, "c1", when=early)
    found = apply_vex([_finding("c1", "CVE-1")], sbom, [newer_not_affected, older_affected])
    assert found[0].suppressed


def test_cpe_identifier_matches_component_cpe() -> None:
    """A product named by CPE covers a component carrying that CPE, case-insensitively."""
    cpe = "cpe:2.3:a:openssl:openssl:3.0.7:*:*:*:*:*:*:*"
    sbom = _sbom(Component(ref="c1", name="openssl", version="3.0.7", cpes=(cpe,)))
    statement = _statement("CVE-1", VexStatus.NOT_AFFECTED, cpe.upper())
    assert statement_covers(statement, sbom, "c1")
