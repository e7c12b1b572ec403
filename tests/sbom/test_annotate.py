"""Writing support records into SBOM documents: every format medwarden reads them back from."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.errors import SbomParseError, UsageError
from medwarden.portfolio.support import ComponentSupport, support_from_component
from medwarden.sbom.annotate import SupportAnnotation, annotate_sbom
from medwarden.sbom.model import IssueSeverity, SbomFormat
from medwarden.sbom.reading import read_sbom
from medwarden.sbom.support_properties import SupportField, annotation_property, support_field
from tests.strategies import DOCUMENT_BUILDERS, component_supports, sbom_packages

AT = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
FORMATS = {
    SbomFormat.CYCLONEDX_JSON: ("cyclonedx-json", ("1.3", "1.4", "1.5", "1.6"), "ref-{}"),
    SbomFormat.CYCLONEDX_XML: ("cyclonedx-xml", ("1.3", "1.4", "1.5", "1.6"), "ref-{}"),
    SbomFormat.SPDX_JSON: ("spdx-json", ("2.2", "2.3"), "SPDXRef-Package-{}"),
}
PACKAGES: list[dict[str, str | None]] = [
    {"name": "lodash", "version": "4.17.15", "purl": "pkg:npm/lodash@4.17.15"},
    {"name": "ms", "version": "2.1.3", "purl": None},
]


def _annotation(support: ComponentSupport | None) -> SupportAnnotation | None:
    if support is None:
        return None
    return SupportAnnotation(support.level, support.end_of_support, support.justification)


def _read_back(data: bytes) -> dict[str, ComponentSupport | None]:
    """Each component's support record as an import reads it; fails on schema errors."""
    read = read_sbom(data)
    errors = [str(i) for i in read.issues if i.severity is IssueSeverity.ERROR]
    assert not errors, errors
    return {c.ref: support_from_component(c) for c in read.sbom.components}


def _document(
    sbom_format: SbomFormat, version: str, packages: list[dict[str, str | None]]
) -> bytes:
    builder = DOCUMENT_BUILDERS[FORMATS[sbom_format][0]][0]
    return builder(version, packages)


@pytest.mark.parametrize("sbom_format", list(FORMATS))
@given(data=st.data())
def test_records_written_are_the_records_read_back(sbom_format: SbomFormat, data: Any) -> None:
    """REQUIREMENTS 3: level, end-of-support date and justification survive export and import."""
    _name, versions, ref = FORMATS[sbom_format]
    packages = data.draw(sbom_packages(max_size=4))
    document = _document(sbom_format, data.draw(st.sampled_from(versions)), packages)
    expected = {
        ref.format(i): data.draw(st.none() | component_supports()) for i in range(len(packages))
    }
    records = {r: _annotation(s) for r, s in expected.items()}
    annotated = annotate_sbom(document, sbom_format, records, at=AT)
    assert _read_back(annotated) == expected


@pytest.mark.parametrize("sbom_format", list(FORMATS))
def test_other_spellings_are_replaced_and_a_cleared_record_removed(
    sbom_format: SbomFormat,
) -> None:
    """A stored record replaces what the document stated; None removes every statement."""
    _name, versions, ref = FORMATS[sbom_format]
    original = _document(sbom_format, versions[-1], PACKAGES)
    stated = annotate_sbom(
        original,
        sbom_format,
        {ref.format(0): SupportAnnotation("abandoned", date(2020, 1, 1), "archived")},
        at=AT,
    )
    new = ComponentSupport("actively_maintained", date(2030, 6, 30))
    updated = annotate_sbom(
        stated, sbom_format, {ref.format(0): _annotation(new), ref.format(1): None}, at=AT
    )
    assert _read_back(updated) == {ref.format(0): new, ref.format(1): None}
    cleared = annotate_sbom(updated, sbom_format, {ref.format(0): None}, at=AT)
    assert _read_back(cleared) == {ref.format(0): None, ref.format(1): None}
    assert b"medwarden:" not in cleared
    assert b"validUntilDate" not in cleared


def test_cyclonedx_json_keeps_other_properties_and_bumps_the_version() -> None:
    """Foreign properties stay in place; a support property of any spelling goes."""
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 3,
        "components": [
            {
                "type": "library",
                "bom-ref": "a",
                "name": "a",
                "properties": [
                    {"name": "syft:package:type", "value": "npm"},
                    {"name": "fda:levelOfSupport", "value": "abandoned"},
                    {"name": "EOL", "value": "2020-01-01"},
                ],
            }
        ],
    }
    out = json.loads(
        annotate_sbom(
            json.dumps(document).encode(),
            SbomFormat.CYCLONEDX_JSON,
            {"a": SupportAnnotation(None, date(2031, 1, 1), None)},
            at=AT,
        )
    )
    assert out["version"] == 4
    assert out["components"][0]["properties"] == [
        {"name": "syft:package:type", "value": "npm"},
        {"name": "medwarden:end_of_support", "value": "2031-01-01"},
    ]


def test_components_without_a_bom_ref_and_nested_ones_are_found() -> None:
    """Synthetic refs are computed as the reader computes them, nested components included."""
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "components": [
            {
                "type": "library",
                "name": "outer",
                "version": "1",
                "components": [{"type": "library", "name": "inner", "version": "2"}],
            }
        ],
    }
    data = json.dumps(document).encode()
    refs = {c.name: c.ref for c in read_sbom(data).sbom.components}
    assert refs["inner"].startswith("medwarden:ref:")
    record = SupportAnnotation("abandoned", None, "upstream gone")
    out = annotate_sbom(data, SbomFormat.CYCLONEDX_JSON, {refs["inner"]: record}, at=AT)
    supports = {c.name: support_from_component(c) for c in read_sbom(out).sbom.components}
    assert supports == {
        "outer": None,
        "inner": ComponentSupport("abandoned", None, "upstream gone"),
    }


def test_xml_properties_go_where_the_schema_wants_them() -> None:
    """<properties> is created before <components>; the result validates against the XSD."""
    xml = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b"<!-- exported by a tool -->\n"
        b'<bom xmlns="http://cyclonedx.org/schema/bom/1.6" version="1"><components>'
        b'<component type="library" bom-ref="outer"><name>outer</name><version>1</version>'
        b'<components><component type="library" bom-ref="inner"><name>inner</name>'
        b"</component></components></component></components></bom>"
    )
    record = SupportAnnotation("abandoned", date(2029, 2, 28), "x < y & z")
    out = annotate_sbom(xml, SbomFormat.CYCLONEDX_XML, {"outer": record, "inner": record}, at=AT)
    assert b"<!-- exported by a tool -->" in out
    assert b'version="2"' in out
    expected = ComponentSupport("abandoned", date(2029, 2, 28), "x < y & z")
    assert _read_back(out) == {"outer": expected, "inner": expected}
    assert b"</version><properties>" in out  # outer: before its nested <components>
    assert b"</properties><components>" in out


def test_xml_properties_precede_tags_and_extensions() -> None:
    """CycloneDX 1.6 puts <tags> and foreign elements after <properties>; the XSD agrees."""
    xml = (
        b'<bom xmlns="http://cyclonedx.org/schema/bom/1.6" xmlns:x="urn:x" version="1">'
        b'<components><component type="library" bom-ref="a"><name>a</name>'
        b"<tags><tag>ui</tag></tags><x:extra>1</x:extra></component></components></bom>"
    )
    record = SupportAnnotation(None, None, "vendor silent")
    out = annotate_sbom(xml, SbomFormat.CYCLONEDX_XML, {"a": record}, at=AT)
    assert _read_back(out) == {"a": ComponentSupport(None, None, "vendor silent")}
    assert out.index(b"<properties>") < out.index(b"<tags>") < out.index(b"<x:extra>")


def test_xml_with_a_doctype_is_refused_and_entities_never_expanded() -> None:
    """defusedxml parses first: a DTD (and with it any entity) is refused."""
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE bom [<!ENTITY x "boom">]>'
        b'<bom xmlns="http://cyclonedx.org/schema/bom/1.6"><components>'
        b'<component type="library" bom-ref="a"><name>&x;</name></component>'
        b"</components></bom>"
    )
    with pytest.raises(SbomParseError):
        annotate_sbom(hostile, SbomFormat.CYCLONEDX_XML, {}, at=AT)


def test_spdx_dates_are_valid_until_and_22_becomes_23() -> None:
    """validUntilDate is an ISO 8601 date-time; level and justification are annotations."""
    data = _document(SbomFormat.SPDX_JSON, "2.2", PACKAGES)
    record = SupportAnnotation("no longer maintained", date(2027, 3, 1), "EoL announced")
    out = json.loads(
        annotate_sbom(data, SbomFormat.SPDX_JSON, {"SPDXRef-Package-1": record}, at=AT, tool="mw-9")
    )
    assert out["spdxVersion"] == "SPDX-2.3"
    package = out["packages"][1]
    assert package["validUntilDate"] == "2027-03-01T00:00:00Z"
    assert package["annotations"] == [
        {
            "annotationDate": "2026-12-01T08:30:00Z",
            "annotationType": "OTHER",
            "annotator": "Tool: mw-9",
            "comment": "medwarden:level_of_support=no longer maintained",
        },
        {
            "annotationDate": "2026-12-01T08:30:00Z",
            "annotationType": "OTHER",
            "annotator": "Tool: mw-9",
            "comment": "medwarden:support_justification=EoL announced",
        },
    ]


@pytest.mark.parametrize(
    ("sbom_format", "version"),
    [(SbomFormat.SPDX_TAG_VALUE, "2.3"), (SbomFormat.CYCLONEDX_JSON, "1.2")],
)
def test_formats_that_cannot_carry_records_are_refused(
    sbom_format: SbomFormat, version: str
) -> None:
    """SPDX tag-value and CycloneDX 1.2 (no properties) are usage errors."""
    builder = DOCUMENT_BUILDERS[sbom_format.value][0]
    with pytest.raises(UsageError):
        annotate_sbom(builder(version, PACKAGES), sbom_format, {}, at=AT)


def test_an_unknown_ref_is_refused() -> None:
    """Records for components the document does not hold fail closed."""
    data = _document(SbomFormat.CYCLONEDX_JSON, "1.6", PACKAGES)
    with pytest.raises(UsageError, match="no component 'ghost'"):
        annotate_sbom(data, SbomFormat.CYCLONEDX_JSON, {"ghost": None}, at=AT)


def test_property_names_and_annotation_comments() -> None:
    """Every usual spelling is recognised; only medwarden's own annotation comments are read."""
    assert support_field("fda:endOfSupport") is SupportField.END_OF_SUPPORT
    assert support_field("Level-Of-Support") is SupportField.LEVEL
    assert support_field("cdx:supportJustification") is SupportField.JUSTIFICATION
    assert support_field("syft:package:type") is None
    assert annotation_property("medwarden:support_justification=a=b") == (
        "medwarden:support_justification",
        "a=b",
    )
    assert annotation_property("reviewed by QA") is None
    assert annotation_property("other:level_of_support=x") is None
