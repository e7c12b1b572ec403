"""CycloneDX JSON and XML readers map documents onto the normalised model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from medwarden.errors import SbomSchemaError
from medwarden.sbom.model import Hash, IssueSeverity, SbomFormat
from medwarden.sbom.readers import READERS, CycloneDxJsonReader, create_registry
from medwarden.sbom.reading import detect_format, read_sbom, read_sbom_file

SBOMS = Path(__file__).parents[1] / "fixtures" / "sboms"


def _cdx(version: str = "1.6", **fields: Any) -> bytes:
    return json.dumps(
        {"bomFormat": "CycloneDX", "specVersion": version, "version": 1, **fields}
    ).encode()


NESTED = {
    "type": "framework",
    "bom-ref": "outer",
    "name": "outer",
    "version": "1.0",
    "supplier": {"name": "Outer Corp"},
    "publisher": "ignored publisher",
    "hashes": [{"alg": "SHA-256", "content": "ab" * 32}],
    "licenses": [{"license": {"id": "MIT"}}, {"expression": "Apache-2.0 OR MIT"}],
    "cpe": "cpe:2.3:a:outer:outer:1.0:*:*:*:*:*:*:*",
    "properties": [{"name": "k", "value": "v"}],
    "components": [
        {"type": "library", "name": "inner", "version": "2", "publisher": "Inner Pub"},
        {"type": "library", "name": "inner2", "version": "3", "author": "Ann Author"},
    ],
}


def test_nested_components_are_flattened_with_all_fields() -> None:
    """Nested components are flattened and every mapped field is carried over."""
    sbom = read_sbom(_cdx(components=[NESTED])).sbom
    outer, inner, inner2 = sbom.components
    assert outer.supplier == "Outer Corp"
    assert outer.hashes == (Hash("SHA-256", "ab" * 32),)
    assert outer.licenses == ("MIT", "Apache-2.0 OR MIT")
    assert outer.cpes == ("cpe:2.3:a:outer:outer:1.0:*:*:*:*:*:*:*",)
    assert outer.property("k") == "v"
    assert outer.component_type == "framework"
    assert (inner.name, inner.supplier) == ("inner", "Inner Pub")
    assert inner2.supplier == "Ann Author"


def test_missing_bom_refs_are_synthesised_stably() -> None:
    """Components without bom-ref get distinct synthetic refs that are the same on every read."""
    data = _cdx(components=[NESTED])
    first = [c.ref for c in read_sbom(data).sbom.components]
    second = [c.ref for c in read_sbom(data).sbom.components]
    assert first == second
    assert len(set(first)) == 3
    assert first[1].startswith("medwarden:ref:")


def test_identical_components_without_refs_get_distinct_refs() -> None:
    """Two identical ref-less components still get two different refs."""
    twin = {"type": "library", "name": "twin", "version": "1"}
    sbom = read_sbom(_cdx(components=[twin, twin])).sbom
    assert len({c.ref for c in sbom.components}) == 2


def test_metadata_of_cyclonedx_1_6_with_tools_object() -> None:
    """CycloneDX 1.5+ tools objects, authors, manufacturer and the root component are read."""
    metadata = {
        "timestamp": "2024-05-06T07:08:09Z",
        "tools": {"components": [{"type": "application", "name": "gen", "version": "9"}]},
        "authors": [{"name": "Dana"}],
        "manufacturer": {"name": "Maker Inc"},
        "supplier": {"name": "Supplier Ltd"},
        "component": {"type": "device", "bom-ref": "root", "name": "pump", "version": "4.2"},
    }
    sbom = read_sbom(
        _cdx(metadata=metadata, components=[], serialNumber="urn:uuid:" + "0" * 36)
    ).sbom
    assert sbom.tools == ("gen 9",)
    assert sbom.authors == ("Dana", "Maker Inc", "Supplier Ltd", "gen 9")
    assert (sbom.root_ref, sbom.name, sbom.version) == ("root", "pump", "4.2")
    assert sbom.timestamp == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert sbom.serial_number == "urn:uuid:" + "0" * 36


def test_tools_array_of_cyclonedx_1_4() -> None:
    """CycloneDX 1.4 tools arrays become 'vendor name version' tool names."""
    metadata = {"tools": [{"vendor": "anchore", "name": "syft", "version": "0.1"}]}
    sbom = read_sbom(_cdx("1.4", metadata=metadata, components=[])).sbom
    assert sbom.tools == ("anchore syft 0.1",)


def test_empty_component_list_is_a_warning_not_silence() -> None:
    """A document listing no components loads empty but says so in a warning."""
    result = read_sbom(_cdx(components=[]))
    assert result.sbom.components == ()
    assert [i.severity for i in result.issues] == [IssueSeverity.WARNING]


def test_dependencies_are_read() -> None:
    """CycloneDX dependencies become edges; entries without a ref are issues."""
    deps = [{"ref": "a", "dependsOn": ["b"]}, {"ref": "b"}, {"dependsOn": ["a"]}]
    result = read_sbom(_cdx(components=[], dependencies=deps))
    assert [(d.ref, d.depends_on) for d in result.sbom.dependencies] == [("a", ("b",)), ("b", ())]
    assert any(i.pointer == "/dependencies/2" for i in result.issues)


def test_malformed_purl_is_kept_with_a_warning() -> None:
    """A purl that does not parse is kept as written (matching reports it) and warned about."""
    component = {"type": "library", "name": "x", "version": "1", "purl": "pkg:pypi/"}
    result = read_sbom(_cdx(components=[component]))
    assert result.sbom.components[0].purl == "pkg:pypi/"
    assert any(i.pointer == "/components/0/purl" for i in result.issues)


def test_bad_timestamp_is_an_issue() -> None:
    """An unparseable metadata timestamp is dropped with an issue."""
    result = read_sbom(_cdx(metadata={"timestamp": "yesterday"}, components=[]))
    assert result.sbom.timestamp is None
    assert any(i.pointer == "/metadata/timestamp" for i in result.issues)


def test_xml_reader_reads_nested_and_metadata() -> None:
    """The XML reader maps licences, hashes, properties, nested components and dependencies."""
    xml = b"""<?xml version="1.0"?>
<bom xmlns="http://cyclonedx.org/schema/bom/1.5" version="1">
  <metadata><timestamp>2024-01-01T00:00:00Z</timestamp>
    <tools><components>
      <component type="application"><name>gen</name><version>2</version></component>
    </components></tools>
    <authors><author><name>Dana</name></author></authors>
    <component type="device" bom-ref="root"><name>pump</name><version>1</version></component>
  </metadata>
  <components>
    <component type="library" bom-ref="a">
      <supplier><name>ACME</name></supplier><name>a</name><version>1</version>
      <hashes><hash alg="SHA-1">0123456789abcdef0123456789abcdef01234567</hash></hashes>
      <licenses><license><id>MIT</id></license></licenses>
      <cpe>cpe:2.3:a:acme:a:1:*:*:*:*:*:*:*</cpe><purl>pkg:generic/a@1</purl>
      <properties><property name="p">q</property></properties>
      <components>
        <component type="library" bom-ref="b"><name>b</name><version>2</version></component>
      </components>
    </component>
  </components>
  <dependencies>
    <dependency ref="root"><dependency ref="a"/></dependency>
    <dependency ref="a"><dependency ref="b"/></dependency>
  </dependencies>
</bom>"""
    result = read_sbom(xml)
    sbom = result.sbom
    assert result.issues == ()
    assert sbom.format is SbomFormat.CYCLONEDX_XML
    assert [c.ref for c in sbom.components] == ["a", "b"]
    a = sbom.components[0]
    assert (a.supplier, a.purl, a.licenses, a.property("p")) == (
        "ACME",
        "pkg:generic/a@1",
        ("MIT",),
        "q",
    )
    assert a.hashes == (Hash("SHA-1", "0123456789abcdef0123456789abcdef01234567"),)
    assert [(d.ref, d.depends_on) for d in sbom.dependencies] == [("root", ("a",)), ("a", ("b",))]
    assert (sbom.root_ref, sbom.tools, sbom.authors) == ("root", ("gen 2",), ("Dana", "gen 2"))


def test_xml_schema_issue_has_a_line_and_strict_raises() -> None:
    """An XSD violation is an issue with a line number; strict mode raises SbomSchemaError."""
    xml = b"""<bom xmlns="http://cyclonedx.org/schema/bom/1.4" version="1">
<components>
<component type="nonsense"><name>x</name><version>1</version></component>
</components></bom>"""
    result = read_sbom(xml)
    assert result.issues[0].line == 3
    with pytest.raises(SbomSchemaError) as caught:
        read_sbom(xml, strict=True)
    assert caught.value.location is not None
    assert caught.value.location.line == 3


def test_strict_mode_accepts_a_valid_document() -> None:
    """Strict mode reads a schema-valid corpus file without complaint."""
    result = read_sbom_file(SBOMS / "dtrack-apiserver-4.5.0.cdx-1.4.json", strict=True)
    assert len(result.sbom.components) == 132


def test_supplier_and_cpe_from_real_syft_xml() -> None:
    """syft's publisher becomes the supplier and its cpe element the component CPE."""
    sbom = read_sbom_file(SBOMS / "alpine-3.17-syft.cdx-1.4.xml").sbom
    base = sbom.components[0]
    assert base.name == "alpine-baselayout"
    assert base.supplier == "Natanael Copa <ncopa@alpinelinux.org>"
    assert base.cpes == ("cpe:2.3:a:alpine-baselayout:alpine-baselayout:3.4.0-r0:*:*:*:*:*:*:*",)


@pytest.mark.parametrize(
    ("prefix", "fmt"),
    [
        (b'{"bomFormat": "CycloneDX"}', SbomFormat.CYCLONEDX_JSON),
        (b'{"spdxVersion": "SPDX-2.3"}', SbomFormat.SPDX_JSON),
        (b"<bom/>", SbomFormat.CYCLONEDX_XML),
        (b"# comment\nSPDXVersion: SPDX-2.2\n", SbomFormat.SPDX_TAG_VALUE),
    ],
)
def test_detect_format(prefix: bytes, fmt: SbomFormat) -> None:
    """The format is detected from content alone."""
    assert detect_format(prefix) is fmt


def test_registry_refuses_duplicate_formats() -> None:
    """Registering two readers for one format is refused."""
    with pytest.raises(ValueError, match="two SBOM readers"):
        create_registry([CycloneDxJsonReader(), CycloneDxJsonReader()])


def test_registry_covers_every_format() -> None:
    """Every SbomFormat has exactly one registered reader."""
    assert set(READERS) == set(SbomFormat)
    assert all(reader.format is fmt for fmt, reader in READERS.items())
