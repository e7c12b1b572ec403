"""Malformed, hostile and oversized input fails with a typed error, never silently."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from medwarden.errors import (
    InputTooLargeError,
    SbomFormatError,
    SbomParseError,
    SbomSchemaError,
)
from medwarden.sbom.model import IssueSeverity
from medwarden.sbom.reading import read_sbom, read_sbom_file

SBOMS = Path(__file__).parents[1] / "fixtures" / "sboms"
LARAVEL = SBOMS / "laravel-7.12.0.cdx-1.4.json"
KUBECTL = SBOMS / "kubectl-image-syft.spdx-2.3.json"

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE bom [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bom xmlns="http://cyclonedx.org/schema/bom/1.4" version="1"><components>
<component type="library"><name>&xxe;</name><version>1</version></component>
</components></bom>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<bom xmlns="http://cyclonedx.org/schema/bom/1.4" version="1"><components>
<component type="library"><name>&lol3;</name><version>1</version></component>
</components></bom>"""


def _laravel() -> dict[str, Any]:
    return json.loads(LARAVEL.read_bytes())


def _dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def test_truncated_json_reports_line_and_column() -> None:
    """A truncated JSON SBOM raises SbomParseError that names the line and column."""
    data = LARAVEL.read_bytes()
    with pytest.raises(SbomParseError) as caught:
        read_sbom(data[: len(data) // 2], source="laravel.json")
    location = caught.value.location
    assert location is not None
    assert location.line is not None
    assert location.line > 1
    assert location.column is not None


@pytest.mark.parametrize("data", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
def test_xml_with_doctype_is_refused(data: bytes) -> None:
    """XML declaring entities (XXE, billion laughs) is refused with SbomParseError."""
    with pytest.raises(SbomParseError, match="DOCTYPE"):
        read_sbom(data)


@pytest.mark.parametrize("data", [b"", b"   \n\t", b"\xef\xbb\xbf"], ids=["empty", "blank", "bom"])
def test_empty_input_is_a_parse_error(data: bytes) -> None:
    """Empty or blank input raises SbomParseError rather than giving an empty SBOM."""
    with pytest.raises(SbomParseError, match="empty"):
        read_sbom(data)


@pytest.mark.parametrize(
    "data",
    [b"hello world", b'{"hello": "world"}', b"[1, 2]", b"---\nyaml: true\n"],
    ids=["text", "json-object", "json-array", "yaml"],
)
def test_unknown_format_is_a_format_error(data: bytes) -> None:
    """Input that is no supported SBOM format raises SbomFormatError."""
    with pytest.raises(SbomFormatError):
        read_sbom(data)


@pytest.mark.parametrize(
    "data",
    [
        b'{"bomFormat": "CycloneDX", "specVersion": "1.1", "components": []}',
        b'{"spdxVersion": "SPDX-3.0", "packages": []}',
        b'<bom xmlns="http://cyclonedx.org/schema/bom/1.1" version="1"/>',
        b'<project xmlns="http://maven.apache.org/POM/4.0.0"/>',
    ],
    ids=["cdx-1.1", "spdx-3.0", "cdx-xml-1.1", "not-cyclonedx-xml"],
)
def test_unsupported_versions_are_format_errors(data: bytes) -> None:
    """Unsupported specification versions and foreign XML raise SbomFormatError."""
    with pytest.raises(SbomFormatError):
        read_sbom(data)


def test_sparse_two_gigabyte_file_is_refused_without_reading(tmp_path: Path) -> None:
    """A 2 GB sparse file is refused by size before any of it is read."""
    path = tmp_path / "huge.json"
    with path.open("wb") as stream:
        stream.truncate(2 * 1024**3)
    started = time.perf_counter()
    with pytest.raises(InputTooLargeError):
        read_sbom_file(path)
    assert time.perf_counter() - started < 0.5


def test_stream_is_read_only_up_to_the_limit() -> None:
    """A non-regular file (an endless device) is cut off at max_bytes + 1 and refused."""
    with pytest.raises(InputTooLargeError):
        read_sbom_file(Path("/dev/zero"), max_bytes=4096)


def test_missing_file_is_an_sbom_error(tmp_path: Path) -> None:
    """A path that does not exist raises an SbomParseError naming the file."""
    with pytest.raises(SbomParseError, match="cannot read"):
        read_sbom_file(tmp_path / "absent.json")


def test_components_as_string_leaves_nothing_usable() -> None:
    """A CycloneDX document whose components is a string raises SbomParseError."""
    document = _laravel()
    document["components"] = "not a list"
    with pytest.raises(SbomParseError, match="no usable"):
        read_sbom(_dump(document))


def test_bad_components_are_skipped_with_issues() -> None:
    """Components with a numeric version, no name (nor purl) or a non-object type are skipped."""
    document = _laravel()
    document["components"][0]["version"] = 7
    del document["components"][1]["name"]
    del document["components"][1]["purl"]
    del document["components"][3]["name"]
    document["components"][2] = "oops"
    result = read_sbom(_dump(document))
    assert len(result.sbom.components) == 59
    pointers = {i.pointer for i in result.issues if "skipped" in i.message}
    assert pointers == {"/components/0", "/components/1", "/components/2"}
    assert any(
        i.pointer == "/components/3" and "named 'lexer' from its purl" in i.message
        for i in result.issues
    )


def test_all_components_bad_is_a_parse_error() -> None:
    """A document whose every component is unusable raises SbomParseError, not an empty SBOM."""
    document = _laravel()
    document["components"] = [{"type": "library", "version": 1}, 42]
    with pytest.raises(SbomParseError):
        read_sbom(_dump(document))


def test_spdx_bad_packages_are_skipped() -> None:
    """SPDX packages without a name or with a numeric versionInfo are skipped with issues."""
    document = json.loads(KUBECTL.read_bytes())
    del document["packages"][0]["name"]
    document["packages"][1]["versionInfo"] = 1.5
    result = read_sbom(_dump(document))
    assert len(result.sbom.components) == 87
    assert any(i.pointer == "/packages/0" for i in result.issues)


def test_spdx_packages_as_number_is_a_parse_error() -> None:
    """An SPDX document whose packages is a number raises SbomParseError."""
    document = json.loads(KUBECTL.read_bytes())
    document["packages"] = 3
    with pytest.raises(SbomParseError):
        read_sbom(_dump(document))


def test_removed_required_field_in_strict_mode_names_the_pointer() -> None:
    """Strict mode raises SbomSchemaError located at the JSON pointer of the broken component."""
    document = _laravel()
    del document["components"][5]["type"]
    with pytest.raises(SbomSchemaError) as caught:
        read_sbom(_dump(document), strict=True)
    assert caught.value.location is not None
    assert caught.value.location.pointer == "/components/5"
    assert any("'type' is a required property" in d for d in caught.value.details)


def test_removed_required_field_in_lenient_mode_is_an_issue() -> None:
    """Without strict mode the same violation is an issue and every component still loads."""
    document = _laravel()
    del document["components"][5]["type"]
    result = read_sbom(_dump(document))
    assert len(result.sbom.components) == 62
    assert [i.pointer for i in result.issues if i.severity is IssueSeverity.ERROR] == [
        "/components/5"
    ]


def test_deeply_nested_json_is_refused() -> None:
    """JSON nested deeper than the reader accepts raises SbomParseError, not RecursionError."""
    data = (
        b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "x": ' + b"[" * 400 + b"]" * 400 + b"}"
    )
    with pytest.raises(SbomParseError, match="nested"):
        read_sbom(data)


def test_broken_tag_value_line_is_located() -> None:
    """A tag-value line without a tag raises SbomParseError with its line number."""
    data = b"SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\nthis is not a tag\n"
    with pytest.raises(SbomParseError) as caught:
        read_sbom(data)
    assert caught.value.location is not None
    assert caught.value.location.line == 3


def test_unclosed_text_block_is_a_parse_error() -> None:
    """A tag-value <text> block that never closes raises SbomParseError."""
    data = b"SPDXVersion: SPDX-2.3\nDocumentComment: <text>never closed\n"
    with pytest.raises(SbomParseError, match="never closed"):
        read_sbom(data)
