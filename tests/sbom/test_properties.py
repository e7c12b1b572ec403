"""Property tests: readers never fail untyped, and valid documents round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.errors import SbomError
from medwarden.sbom.model import IssueSeverity, SbomFormat
from medwarden.sbom.readers import READERS
from medwarden.sbom.reading import read_sbom
from tests.strategies import (
    DOCUMENT_BUILDERS,
    format_prefixed_bytes,
    mutated_bytes,
    mutated_json,
    sbom_documents,
    sbom_packages,
)

SBOMS = Path(__file__).parents[1] / "fixtures" / "sboms"
SMALL_JSON = {
    "cyclonedx": json.loads((SBOMS / "trivy" / "centos-7-cyclonedx.json").read_bytes()),
    "spdx": json.loads((SBOMS / "bitnami-postgresql-15.3.0.spdx-2.3.json").read_bytes()),
}
SMALL_TEXT = {
    SbomFormat.CYCLONEDX_XML: (SBOMS / "alpine-3.17-syft.cdx-1.4.xml").read_bytes(),
    SbomFormat.SPDX_TAG_VALUE: (SBOMS / "bitnami-postgresql-15.3.0.spdx-2.3.spdx").read_bytes(),
    SbomFormat.CYCLONEDX_JSON: (SBOMS / "trivy" / "centos-7-cyclonedx.json").read_bytes(),
    SbomFormat.SPDX_JSON: (SBOMS / "bitnami-postgresql-15.3.0.spdx-2.3.json").read_bytes(),
}


def _read_or_typed_error(data: bytes, sbom_format: SbomFormat | None = None) -> None:
    try:
        if sbom_format is None:
            read_sbom(data)
        else:
            READERS[sbom_format].read(data, source=None, strict=False)
    except SbomError:
        pass


@given(data=format_prefixed_bytes())
def test_arbitrary_bytes_never_escape_untyped(data: bytes) -> None:
    """Arbitrary bytes give a result or an SbomError, through detection."""
    _read_or_typed_error(data)


@pytest.mark.parametrize("sbom_format", list(SbomFormat))
@given(data=st.binary(max_size=300))
def test_every_reader_survives_arbitrary_bytes(sbom_format: SbomFormat, data: bytes) -> None:
    """Each reader, called directly on arbitrary bytes, gives a result or an SbomError."""
    _read_or_typed_error(data, sbom_format)


@pytest.mark.parametrize("sbom_format", list(SbomFormat))
@given(st.data())
def test_every_reader_survives_mutated_documents(
    sbom_format: SbomFormat, data: st.DataObject
) -> None:
    """Truncated or corrupted real documents give a result or an SbomError."""
    mutated = data.draw(mutated_bytes(SMALL_TEXT[sbom_format]))
    _read_or_typed_error(mutated, sbom_format)


@pytest.mark.parametrize("family", ["cyclonedx", "spdx"])
@given(st.data())
def test_structurally_mutated_json_never_escapes_untyped(family: str, data: st.DataObject) -> None:
    """Real JSON documents with values replaced or deleted give a result or an SbomError."""
    _read_or_typed_error(data.draw(mutated_json(SMALL_JSON[family])))


@pytest.mark.parametrize("sbom_format", sorted(DOCUMENT_BUILDERS))
@given(st.data())
def test_generated_documents_round_trip(sbom_format: str, data: st.DataObject) -> None:
    """Generated valid documents read back with the same names, versions and purls."""
    document, packages = data.draw(sbom_documents(sbom_format))
    result = read_sbom(document, strict=True)
    assert result.sbom.format == sbom_format
    assert not [i for i in result.issues if i.severity is IssueSeverity.ERROR]
    read = [(c.name, c.version, c.purl) for c in result.sbom.components]
    assert read == [(p["name"], p["version"], p["purl"]) for p in packages]


@given(packages=sbom_packages())
def test_all_formats_agree(packages: list[dict[str, str | None]]) -> None:
    """The same packages written in all four formats read back to the same components."""
    readings = set()
    for builder, versions in DOCUMENT_BUILDERS.values():
        sbom = read_sbom(builder(versions[-1], packages)).sbom
        readings.add(tuple((c.name, c.version, c.purl) for c in sbom.components))
    assert len(readings) == 1
