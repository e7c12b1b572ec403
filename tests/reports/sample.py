"""A hand-built scan report exercising every renderer feature (scores, KEV, EPSS, VEX)."""

from __future__ import annotations

from datetime import UTC, datetime

from medwarden.intel.model import EpssScore, KevEntry, Source
from medwarden.matching.model import (
    Evidence,
    Finding,
    Match,
    MatchMethod,
    ScoredSeverity,
    SeverityRating,
    SkippedComponent,
    SkipReason,
    Suppression,
)
from medwarden.sbom.model import (
    Component,
    Dependency,
    Hash,
    IssueSeverity,
    Sbom,
    SbomFormat,
    ValidationIssue,
)
from medwarden.services.scan import ScanReport

GENERATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LODASH = "pkg:npm/lodash@4.17.20"
LOG4J = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"


def _match(ref: str, record: str, method: MatchMethod, confidence: float) -> Match:
    evidence = Evidence(
        method=method,
        record_id=record,
        record_source=Source.OSV if record.startswith("GHSA") else Source.NVD,
        identifier=ref,
        criteria="npm/lodash" if "lodash" in ref else "cpe:2.3:a:apache:log4j:*",
        range=">=0, <4.17.21",
        confidence=confidence,
    )
    return Match(
        component_ref=ref, record_id=record, evidence=evidence, fixed_versions=("4.17.21",)
    )


def sample_report(*, suppressed: bool = True) -> ScanReport:
    """Return a report with a KEV critical, a VEX-suppressed high and an unknown finding."""
    sbom = Sbom(
        format=SbomFormat.CYCLONEDX_JSON,
        spec_version="1.6",
        serial_number="urn:uuid:11111111-2222-3333-4444-555555555555",
        name="infusion-pump",
        version="4.2",
        root_ref="pump",
        source="pump.cdx.json",
        components=(
            Component(ref="pump", name="infusion-pump", version="4.2", component_type="firmware"),
            Component(
                ref="log4j",
                name="log4j-core",
                group="org.apache.logging.log4j",
                version="2.14.1",
                purl=LOG4J,
                component_type="library",
                hashes=(Hash("SHA-256", "a" * 64), Hash("whirlpool", "zz")),
                licenses=("Apache-2.0",),
                supplier="Apache",
            ),
            Component(ref="lodash", name="lodash", version="4.17.20", purl=LODASH),
            Component(ref="mystery", name="vendor-blob", component_type="weird-type"),
        ),
        dependencies=(Dependency("pump", ("log4j", "lodash", "ghost")),),
    )
    log4j = Finding(
        component_ref="log4j",
        vulnerability_id="CVE-2021-44228",
        ids=("CVE-2021-44228", "GHSA-jfh8-c2jp-5v3q"),
        matches=(_match("log4j", "CVE-2021-44228", MatchMethod.CPE_CONFIGURATION, 0.9),),
        summary="Log4Shell: JNDI lookup remote code execution",
        severity=SeverityRating.CRITICAL,
        scores=(
            ScoredSeverity(
                "3.1",
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
                10.0,
                SeverityRating.CRITICAL,
                "nvd@nist.gov",
            ),
        ),
        kev=KevEntry(
            cve_id="CVE-2021-44228",
            vendor="Apache",
            product="Log4j2",
            name="Apache Log4j2 RCE",
            date_added=datetime(2021, 12, 10, tzinfo=UTC),
            known_ransomware="Known",
        ),
        epss=EpssScore("CVE-2021-44228", 0.94358, 0.99961, datetime(2026, 1, 1, tzinfo=UTC)),
        fixed_versions=("2.15.0",),
    )
    lodash = Finding(
        component_ref="lodash",
        vulnerability_id="CVE-2021-23337",
        ids=("CVE-2021-23337", "GHSA-35jh-r3h4-6jhm"),
        matches=(_match("lodash", "GHSA-35jh-r3h4-6jhm", MatchMethod.PURL_RANGE, 1.0),),
        summary="Command injection in lodash template",
        severity=SeverityRating.HIGH,
        scores=(
            ScoredSeverity(
                "3.1",
                "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H",
                7.2,
                SeverityRating.HIGH,
                None,
            ),
        ),
        fixed_versions=("4.17.21",),
        suppression=Suppression(
            status="not_affected",
            justification="vulnerable_code_not_in_execute_path",
            statement="template() is never called",
            document="pump.vex.json",
            vulnerability="GHSA-35jh-r3h4-6jhm",
        )
        if suppressed
        else None,
    )
    unknown = Finding(
        component_ref="lodash",
        vulnerability_id="GHSA-29mw-wpgm-hmr9",
        ids=("GHSA-29mw-wpgm-hmr9",),
        matches=(_match("lodash", "GHSA-29mw-wpgm-hmr9", MatchMethod.PURL_RANGE, 1.0),),
    )
    return ScanReport(
        sbom=sbom,
        findings=(unknown, lodash, log4j),
        skipped=(SkippedComponent("mystery", SkipReason.NO_IDENTIFIER, "no purl and no CPE"),),
        issues=(
            ValidationIssue("'bom-ref' is missing", "/components/3", None, IssueSeverity.WARNING),
        ),
        generated_at=GENERATED,
        vex_documents=("pump.vex.json",) if suppressed else (),
    )
