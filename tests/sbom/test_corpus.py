"""Every corpus SBOM (and peer-tool input) reads with the expected shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from medwarden.sbom.model import IssueSeverity, SbomFormat
from medwarden.sbom.reading import read_sbom_file

CDX_JSON, CDX_XML = SbomFormat.CYCLONEDX_JSON, SbomFormat.CYCLONEDX_XML
SPDX_JSON, SPDX_TV = SbomFormat.SPDX_JSON, SbomFormat.SPDX_TAG_VALUE

# file, format, spec version, components, dependency entries, read without error issues
# (counts verified by hand from the files; XML counts exclude metadata/component;
# bad-purls.cdx.xml has 16 components; two have an empty <name>: the one with a purl is
# named from it, the other is skipped)
CORPUS = [
    ("alpine-3.17-syft.cdx-1.4.xml", CDX_XML, "1.4", 16, 0, True),
    ("alpine-zlib-16.cdx-1.6.json", CDX_JSON, "1.6", 1, 0, False),
    ("bitnami-postgresql-15.3.0.spdx-2.3.json", SPDX_JSON, "2.3", 4, 1, True),
    ("bitnami-postgresql-15.3.0.spdx-2.3.spdx", SPDX_TV, "2.3", 4, 1, True),
    ("dtrack-apiserver-4.5.0.cdx-1.4.json", CDX_JSON, "1.4", 132, 128, True),
    ("juice-shop-14.1.1.cdx-1.6.json", CDX_JSON, "1.6", 1119, 1120, True),
    ("kubectl-image-syft.spdx-2.3.json", SPDX_JSON, "2.3", 89, 1, True),
    ("laravel-7.12.0.cdx-1.4.json", CDX_JSON, "1.4", 62, 63, True),
    ("mongo-image-syft.cdx-1.4.json", CDX_JSON, "1.4", 293, 0, True),
    ("postgres-11.15-stretch-syft.cdx-1.4.xml", CDX_XML, "1.4", 137, 0, True),
    ("pygoat-requirements.cdx-1.6.json", CDX_JSON, "1.6", 34, 34, True),
    ("quarkus-2.13.4-getting-started.cdx-1.4.json", CDX_JSON, "1.4", 94, 81, True),
    ("spring-petclinic-github-depgraph.spdx-2.3.json", SPDX_JSON, "2.3", 47, 1, True),
    ("ubuntu-pcre3-only-unimportant.spdx-2.3.json", SPDX_JSON, "2.3", 1, 0, True),
    ("trivy/centos-7-cyclonedx.json", CDX_JSON, "1.5", 3, 2, True),
    ("trivy/centos-7-spdx.json", SPDX_JSON, "2.2", 4, 2, False),
    ("trivy/fluentd-multiple-lockfiles-cyclonedx.json", CDX_JSON, "1.5", 4, 2, True),
    ("osv-scanner/bad-purls.cdx.xml", CDX_XML, "1.4", 15, 0, False),
    ("osv-scanner/with-duplicates.cdx.xml", CDX_XML, "1.4", 18, 0, False),
]


@pytest.fixture(scope="module")
def sbom_dir(fixtures_dir: Path) -> Path:
    """The SBOM fixture directory."""
    return fixtures_dir / "sboms"


def test_every_fixture_is_listed(sbom_dir: Path) -> None:
    """Every SBOM fixture file on disk is covered by the corpus table."""
    on_disk = {
        str(p.relative_to(sbom_dir))
        for p in sbom_dir.rglob("*")
        if p.is_file() and p.suffix != ".md"
    }
    assert on_disk == {row[0] for row in CORPUS}


@pytest.mark.parametrize(("name", "fmt", "version", "count", "deps", "valid"), CORPUS)
def test_corpus_file_reads(
    sbom_dir: Path, name: str, fmt: SbomFormat, version: str, count: int, deps: int, valid: bool
) -> None:
    """A corpus file is detected, read and validated with its known component count."""
    result = read_sbom_file(sbom_dir / name)
    assert result.sbom.format is fmt
    assert result.sbom.spec_version == version
    assert len(result.sbom.components) == count
    assert len(result.sbom.dependencies) == deps
    errors = [i for i in result.issues if i.severity is IssueSeverity.ERROR]
    assert (not errors) is valid, errors


def test_juice_shop_root_is_read(sbom_dir: Path) -> None:
    """The juice-shop SBOM's root component gives the document's name and version.

    (Its read time is measured by ``benchmarks/bench_scan.py``, not asserted here.)"""
    result = read_sbom_file(sbom_dir / "juice-shop-14.1.1.cdx-1.6.json")
    assert result.sbom.name == "juice-shop"
    assert result.sbom.version == "14.1.1"


def test_tag_value_equals_its_json_original(sbom_dir: Path) -> None:
    """The derived tag-value fixture reads to the same SBOM as the JSON it was converted from."""
    tag_value = read_sbom_file(sbom_dir / "bitnami-postgresql-15.3.0.spdx-2.3.spdx").sbom
    original = read_sbom_file(sbom_dir / "bitnami-postgresql-15.3.0.spdx-2.3.json").sbom
    assert tag_value.components == original.components
    assert tag_value.dependencies == original.dependencies
    assert (tag_value.root_ref, tag_value.authors, tag_value.timestamp) == (
        original.root_ref,
        original.authors,
        original.timestamp,
    )
