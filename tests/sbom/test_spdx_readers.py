"""SPDX JSON and tag-value readers map documents onto the normalised model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from medwarden.errors import SbomSchemaError
from medwarden.sbom.model import Hash, SbomFormat
from medwarden.sbom.reading import read_sbom, read_sbom_file

SBOMS = Path(__file__).parents[1] / "fixtures" / "sboms"


def _package(spdx_id: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"SPDXID": spdx_id, "name": name, "downloadLocation": "NOASSERTION", **fields}


def _spdx(packages: list[dict[str, Any]], relationships: list[dict[str, str]]) -> bytes:
    return json.dumps(
        {
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": "doc",
            "documentNamespace": "https://example.org/doc",
            "creationInfo": {
                "created": "2024-01-01T00:00:00Z",
                "creators": ["Tool: gen-1", "Organization: Maker Inc", "Person: Dana (d@x.org)"],
            },
            "packages": packages,
            "relationships": relationships,
        }
    ).encode()


def _rel(left: str, kind: str, right: str) -> dict[str, str]:
    return {"spdxElementId": left, "relationshipType": kind, "relatedSpdxElement": right}


PACKAGES = [
    _package(
        "SPDXRef-app",
        "app",
        versionInfo="1.0",
        supplier="Organization: ACME",
        primaryPackagePurpose="APPLICATION",
        licenseDeclared="MIT",
        licenseConcluded="NOASSERTION",
        checksums=[{"algorithm": "SHA256", "checksumValue": "cd" * 32}],
        externalRefs=[
            {
                "referenceCategory": "SECURITY",
                "referenceType": "cpe23Type",
                "referenceLocator": "cpe:2.3:a:acme:app:1.0:*:*:*:*:*:*:*",
            },
            {
                "referenceCategory": "SECURITY",
                "referenceType": "cpe22Type",
                "referenceLocator": "cpe:/a:acme:app:1.0",
            },
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": "pkg:generic/app@1.0",
            },
        ],
    ),
    _package("SPDXRef-lib", "lib", versionInfo="2", supplier="Person: Jane Doe (jane@example.org)"),
    _package("SPDXRef-dep", "dep", versionInfo="3", supplier="NOASSERTION"),
]
RELATIONSHIPS = [
    _rel("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-app"),
    _rel("SPDXRef-app", "CONTAINS", "SPDXRef-lib"),
    _rel("SPDXRef-dep", "DEPENDENCY_OF", "SPDXRef-lib"),
    _rel("SPDXRef-app", "CONTAINS", "SPDXRef-File-1"),
    _rel("SPDXRef-app", "GENERATED_FROM", "SPDXRef-dep"),
]


def test_spdx_packages_are_mapped() -> None:
    """Supplier, CPEs, purl, hashes, licences and purpose come from the SPDX package."""
    result = read_sbom(_spdx(PACKAGES, RELATIONSHIPS))
    assert result.issues == ()
    app, lib, dep = result.sbom.components
    assert app.supplier == "ACME"
    assert app.cpes == ("cpe:2.3:a:acme:app:1.0:*:*:*:*:*:*:*", "cpe:/a:acme:app:1.0")
    assert app.purl == "pkg:generic/app@1.0"
    assert app.hashes == (Hash("SHA256", "cd" * 32),)
    assert app.licenses == ("MIT",)
    assert app.component_type == "APPLICATION"
    assert lib.supplier == "Jane Doe"
    assert dep.supplier is None


def test_spdx_relationships_become_edges() -> None:
    """CONTAINS and DEPENDENCY_OF become edges between packages; DESCRIBES names the root."""
    sbom = read_sbom(_spdx(PACKAGES, RELATIONSHIPS)).sbom
    assert [(d.ref, d.depends_on) for d in sbom.dependencies] == [
        ("SPDXRef-app", ("SPDXRef-lib",)),
        ("SPDXRef-lib", ("SPDXRef-dep",)),
    ]
    assert (sbom.root_ref, sbom.name, sbom.version) == ("SPDXRef-app", "app", "1.0")


def test_spdx_creators_split_into_authors_and_tools() -> None:
    """SPDX creators become authors (people and organisations, then tools) and tools."""
    sbom = read_sbom(_spdx(PACKAGES, [])).sbom
    assert sbom.tools == ("gen-1",)
    assert sbom.authors == ("Maker Inc", "Dana", "gen-1")
    assert sbom.serial_number == "https://example.org/doc"
    assert sbom.root_ref is None


def test_spdx_2_2_from_trivy() -> None:
    """trivy's SPDX 2.2 CentOS document reads with its root and CONTAINS chain."""
    result = read_sbom_file(SBOMS / "trivy" / "centos-7-spdx.json")
    sbom = result.sbom
    assert sbom.spec_version == "2.2"
    assert sbom.root_ref == "SPDXRef-ContainerImage-dd5cad897c6263"
    bash = next(c for c in sbom.components if c.name == "bash")
    assert bash.purl == "pkg:rpm/centos/bash@4.2.46-31.el7?arch=x86_64&distro=centos-7.6.1810"
    assert {i.pointer for i in result.issues} == {f"/packages/{n}" for n in range(4)}


def test_spdx_2_2_strict_names_the_missing_download_location() -> None:
    """Strict mode rejects trivy's SPDX 2.2 document, which lacks downloadLocation."""
    with pytest.raises(SbomSchemaError) as caught:
        read_sbom_file(SBOMS / "trivy" / "centos-7-spdx.json", strict=True)
    assert caught.value.location is not None
    assert caught.value.location.pointer == "/packages/0"


def test_tag_value_multiline_and_sections() -> None:
    """Tag-value <text> blocks, file sections and comments do not disturb package reading."""
    data = b"""SPDXVersion: SPDX-2.2
DataLicense: CC0-1.0
SPDXID: SPDXRef-DOCUMENT
DocumentName: t
DocumentNamespace: https://example.org/t
DocumentComment: <text>spans
two lines: with a colon</text>
Creator: Tool: tv
Created: 2024-01-01T00:00:00Z

# a comment
PackageName: zlib
SPDXID: SPDXRef-zlib
PackageVersion: 1.2.13
PackageSupplier: Organization: zlib people
PackageDownloadLocation: NOASSERTION
PackageChecksum: SHA1: 0123456789abcdef0123456789abcdef01234567
ExternalRef: SECURITY cpe23Type cpe:2.3:a:zlib:zlib:1.2.13:*:*:*:*:*:*:*
PackageCopyrightText: <text>Copyright
 (c) someone</text>

FileName: ./zlib.h
SPDXID: SPDXRef-File-1
FileChecksum: SHA1: 0123456789abcdef0123456789abcdef01234567

Relationship: SPDXRef-DOCUMENT DESCRIBES SPDXRef-zlib
"""
    result = read_sbom(data)
    sbom = result.sbom
    assert sbom.format is SbomFormat.SPDX_TAG_VALUE
    assert sbom.spec_version == "2.2"
    (zlib,) = sbom.components
    assert (zlib.name, zlib.version, zlib.supplier) == ("zlib", "1.2.13", "zlib people")
    assert zlib.cpes == ("cpe:2.3:a:zlib:zlib:1.2.13:*:*:*:*:*:*:*",)
    assert zlib.hashes == (Hash("SHA1", "0123456789abcdef0123456789abcdef01234567"),)
    assert sbom.root_ref == "SPDXRef-zlib"
    assert sbom.tools == ("tv",)


def test_tag_value_schema_issue_carries_the_package_line() -> None:
    """A tag-value package missing a required field is reported at its PackageName line."""
    data = b"SPDXVersion: SPDX-2.3\nSPDXID: SPDXRef-DOCUMENT\n\nPackageName: x\nSPDXID: SPDXRef-x\n"
    result = read_sbom(data)
    package_issues = [i for i in result.issues if (i.pointer or "").startswith("/packages/0")]
    assert package_issues
    assert package_issues[0].line == 4
