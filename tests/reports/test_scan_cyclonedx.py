"""Tests of the CycloneDX 1.6 rendering: schema-valid, refs resolve, ratings and analysis."""

from __future__ import annotations

import json
from typing import Any

from cyclonedx.schema import OutputFormat, SchemaVersion
from cyclonedx.validation import make_schemabased_validator

from medwarden.reports.scan_cyclonedx import render_cyclonedx
from tests.reports.sample import sample_report


def _validate(text: str) -> None:
    validator = make_schemabased_validator(OutputFormat.JSON, SchemaVersion.V1_6)
    errors = validator.validate_str(text)
    assert errors is None, errors


def _document() -> dict[str, Any]:
    text = render_cyclonedx(sample_report())
    _validate(text)
    return json.loads(text)


def test_output_validates_against_official_1_6_schema() -> None:
    """The document validates against the CycloneDX 1.6 JSON schema, with and without VEX."""
    _validate(render_cyclonedx(sample_report()))
    _validate(render_cyclonedx(sample_report(suppressed=False)))


def test_schema_validation_catches_a_broken_document() -> None:
    """The validator used above does reject an invalid document (the test can fail)."""
    document = json.loads(render_cyclonedx(sample_report()))
    document["vulnerabilities"][0]["ratings"][0]["method"] = "CVSSv99"
    validator = make_schemabased_validator(OutputFormat.JSON, SchemaVersion.V1_6)
    assert validator.validate_str(json.dumps(document)) is not None


def test_affects_refs_resolve_to_components() -> None:
    """Every affects[].ref is the bom-ref of a component or of metadata.component."""
    document = _document()
    refs = {c["bom-ref"] for c in document["components"]}
    refs.add(document["metadata"]["component"]["bom-ref"])
    affected = {a["ref"] for v in document["vulnerabilities"] for a in v["affects"]}
    assert affected
    assert affected <= refs
    assert all(d["ref"] in refs and set(d["dependsOn"]) <= refs for d in document["dependencies"])


def test_ratings_references_and_properties() -> None:
    """Ratings carry CVSS method, vector, score; aliases are references; KEV/EPSS properties."""
    log4j = _document()["vulnerabilities"][0]
    assert log4j["id"] == "CVE-2021-44228"
    assert log4j["ratings"][0] == {
        "score": 10.0,
        "severity": "critical",
        "method": "CVSSv31",
        "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
        "source": {"name": "nvd@nist.gov"},
    }
    assert log4j["references"][0]["id"] == "GHSA-jfh8-c2jp-5v3q"
    properties = {p["name"]: p["value"] for p in log4j["properties"]}
    assert properties["medwarden:kev"] == "true"
    assert properties["medwarden:epss:score"] == "0.94358"
    assert properties["medwarden:epss:percentile"] == "0.99961"
    assert "analysis" not in log4j


def test_suppressed_finding_has_analysis() -> None:
    """A VEX-suppressed finding carries a CycloneDX analysis mapped from its statement."""
    lodash = _document()["vulnerabilities"][1]
    assert lodash["analysis"]["state"] == "not_affected"
    assert lodash["analysis"]["justification"] == "code_not_reachable"
    assert "pump.vex.json" in lodash["analysis"]["detail"]


def test_root_is_metadata_component_and_odd_values_are_normalised() -> None:
    """The root goes to metadata; unknown types become library; unknown hash algorithms drop."""
    document = _document()
    assert document["metadata"]["component"]["bom-ref"] == "pump"
    by_ref = {c["bom-ref"]: c for c in document["components"]}
    assert "pump" not in by_ref
    assert by_ref["mystery"]["type"] == "library"
    assert by_ref["log4j"]["hashes"] == [{"alg": "SHA-256", "content": "a" * 64}]
