"""Tests of the SARIF 2.1.0 rendering."""

from __future__ import annotations

import json

from medwarden.reports.scan_sarif import render_sarif
from tests.reports.sample import sample_report


def test_sarif_shape() -> None:
    """The log has version 2.1.0, one run, rules per vulnerability and results per finding."""
    log = json.loads(render_sarif(sample_report()))
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["CVE-2021-44228", "CVE-2021-23337", "GHSA-29mw-wpgm-hmr9"]
    assert rules[0]["properties"]["security-severity"] == "10.0"
    assert rules[0]["helpUri"] == "https://nvd.nist.gov/vuln/detail/CVE-2021-44228"
    assert len(run["results"]) == 3
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_locations_point_at_sbom_and_component() -> None:
    """Each result is located in the SBOM file with the component as a logical location."""
    log = json.loads(render_sarif(sample_report()))
    result = log["runs"][0]["results"][0]
    (location,) = result["locations"]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "pump.cdx.json"
    logical = location["logicalLocations"][0]
    assert logical["fullyQualifiedName"] == "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
    assert result["level"] == "error"
    assert result["properties"]["kev"] is True


def test_sarif_suppressed_finding_has_external_suppression() -> None:
    """A VEX-suppressed finding is a result with an accepted external suppression."""
    results = json.loads(render_sarif(sample_report()))["runs"][0]["results"]
    suppressed = [r for r in results if "suppressions" in r]
    assert [r["ruleId"] for r in suppressed] == ["CVE-2021-23337"]
    (suppression,) = suppressed[0]["suppressions"]
    assert suppression["kind"] == "external"
    assert "pump.vex.json" in suppression["justification"]
