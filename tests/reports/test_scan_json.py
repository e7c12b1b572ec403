"""Tests of the stable JSON scan report."""

from __future__ import annotations

import json

from medwarden.reports.scan_json import SCHEMA_VERSION, render_json
from tests.reports.sample import sample_report


def test_json_top_level_layout() -> None:
    """The JSON report has a schema_version and the documented top-level members."""
    data = json.loads(render_json(sample_report()))
    assert data["schema_version"] == SCHEMA_VERSION == "1.0"
    assert set(data) == {
        "schema_version",
        "tool",
        "generated_at",
        "sbom",
        "summary",
        "findings",
        "skipped",
        "issues",
        "vex_documents",
    }
    assert data["generated_at"] == "2026-01-02T03:04:05Z"
    assert data["sbom"]["serial_number"] == "urn:uuid:11111111-2222-3333-4444-555555555555"
    assert data["vex_documents"] == ["pump.vex.json"]


def test_json_summary_counts_active_and_suppressed() -> None:
    """The summary counts active findings by severity and suppressed ones apart."""
    summary = json.loads(render_json(sample_report()))["summary"]
    assert summary["findings"] == 3
    assert summary["active"] == 2
    assert summary["suppressed"] == 1
    assert summary["by_severity"]["critical"] == 1
    assert summary["by_severity"]["high"] == 0
    assert summary["by_severity"]["unknown"] == 1
    assert summary["kev"] == 1
    assert summary["skipped_components"] == 1
    assert summary["issues"] == {"error": 0, "warning": 1}


def test_json_findings_ordered_and_complete() -> None:
    """Findings come most severe first and carry CVSS, KEV, EPSS, evidence and suppression."""
    findings = json.loads(render_json(sample_report()))["findings"]
    assert [f["vulnerability_id"] for f in findings] == [
        "CVE-2021-44228",
        "CVE-2021-23337",
        "GHSA-29mw-wpgm-hmr9",
    ]
    log4j = findings[0]
    assert log4j["component"]["purl"] == "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
    assert log4j["aliases"] == ["GHSA-jfh8-c2jp-5v3q"]
    assert log4j["cvss_score"] == 10.0
    assert log4j["cvss"][0]["vector"].startswith("CVSS:3.1/")
    assert log4j["kev"]["date_added"] == "2021-12-10T00:00:00Z"
    assert log4j["epss"] == {
        "score": 0.94358,
        "percentile": 0.99961,
        "date": "2026-01-01T00:00:00Z",
    }
    assert log4j["matches"][0]["method"] == "cpe-configuration"
    assert log4j["matches"][0]["confidence"] == 0.9
    assert log4j["suppressed"] is False
    assert log4j["suppression"] is None
    lodash = findings[1]
    assert lodash["suppressed"] is True
    assert lodash["suppression"]["justification"] == "vulnerable_code_not_in_execute_path"
    assert findings[2]["kev"] is None
    assert findings[2]["cvss_score"] is None


def test_json_is_deterministic() -> None:
    """Rendering the same report twice gives byte-identical output."""
    assert render_json(sample_report()) == render_json(sample_report())


def test_json_skipped_and_issues() -> None:
    """Skipped components carry their reason; issues carry severity and pointer."""
    data = json.loads(render_json(sample_report()))
    assert data["skipped"][0]["reason"] == "no-identifier"
    assert data["skipped"][0]["component"]["ref"] == "mystery"
    assert data["issues"][0] == {
        "severity": "warning",
        "message": "'bom-ref' is missing",
        "pointer": "/components/3",
        "line": None,
    }
