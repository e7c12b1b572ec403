"""Schema validation runs offline against the official schemas of each version."""

from __future__ import annotations

import pytest

from medwarden.sbom.validation import (
    CYCLONEDX_VERSIONS,
    validate_cyclonedx_json,
    validate_cyclonedx_xml,
    validate_spdx_json,
)


def _component(**fields: object) -> dict[str, object]:
    return {"type": "library", "name": "x", "version": "1", **fields}


@pytest.mark.parametrize("version", CYCLONEDX_VERSIONS)
def test_every_cyclonedx_json_schema_compiles_offline(version: str) -> None:
    """A minimal document with a licence (an SPDX $ref) validates under every version."""
    component = _component(licenses=[{"license": {"id": "MIT"}}])
    document = {"bomFormat": "CycloneDX", "specVersion": version, "version": 1}
    assert validate_cyclonedx_json({**document, "components": [component]}, version) == ()


@pytest.mark.parametrize("version", CYCLONEDX_VERSIONS)
def test_every_cyclonedx_xsd_compiles_offline(version: str) -> None:
    """A minimal XML document validates against the XSD of every version."""
    xml = (
        f'<bom xmlns="http://cyclonedx.org/schema/bom/{version}" version="1"><components>'
        '<component type="library"><name>x</name><version>1</version></component>'
        "</components></bom>"
    ).encode()
    assert validate_cyclonedx_xml(xml, version) == ()


def test_unknown_spdx_licence_id_is_reported_through_the_local_spdx_schema() -> None:
    """A licence id outside the SPDX list is a violation found via the locally registered schema."""
    component = _component(licenses=[{"license": {"id": "Not-A-Licence"}}])
    document = {"bomFormat": "CycloneDX", "specVersion": "1.4", "components": [component]}
    issues = validate_cyclonedx_json(document, "1.4")
    assert issues
    assert all((i.pointer or "").startswith("/components/0/licenses/0") for i in issues)


def test_duplicate_components_break_unique_items() -> None:
    """Two identical components violate uniqueItems, detected in linear time."""
    document = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [_component()] * 2}
    issues = validate_cyclonedx_json(document, "1.6")
    assert [i.pointer for i in issues] == ["/components"]


def test_issues_come_in_document_order() -> None:
    """Issues are ordered by position in the document, numerically by array index."""
    components = [_component(name=f"c{n}") for n in range(12)]
    components[10]["name"] = 1
    components[2]["version"] = 2
    document = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": components}
    pointers = [i.pointer for i in validate_cyclonedx_json(document, "1.6")]
    assert pointers == ["/components/2/version", "/components/10/name"]


def test_spdx_json_schema_requires_package_name() -> None:
    """An SPDX package without a name is reported at its pointer."""
    document = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "d",
        "documentNamespace": "https://example.org/d",
        "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": ["Tool: t"]},
        "packages": [{"SPDXID": "SPDXRef-p", "downloadLocation": "NOASSERTION"}],
    }
    assert [i.pointer for i in validate_spdx_json(document)] == ["/packages/0"]
