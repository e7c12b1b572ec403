"""Tests of medwarden's own SBOM (``medwarden sbom self``): schema, contents, round trip."""

from __future__ import annotations

import importlib.metadata
import json
import os
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import OutputFormat, SchemaVersion
from cyclonedx.validation import make_schemabased_validator
from packaging.utils import canonicalize_name
from typer.testing import CliRunner

from medwarden.cli.app import app
from medwarden.reports.self_sbom import build_self_sbom, render_self_sbom
from medwarden.sbom.reading import read_sbom
from medwarden.store.db import open_store

NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
SERIAL = uuid.UUID("12345678-1234-4234-8234-123456789abc")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The self-SBOM of the real environment the tests run in."""
    return build_self_sbom(now=NOW, serial=SERIAL)


def _by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {canonicalize_name(c["name"]): c for c in document["components"]}


def test_real_environment_validates_against_official_1_6_schema(
    document: dict[str, Any],
) -> None:
    """The SBOM of the running environment validates against the CycloneDX 1.6 JSON schema."""
    validator = make_schemabased_validator(OutputFormat.JSON, SchemaVersion.V1_6)
    assert validator.validate_str(render_self_sbom(document)) is None


def test_metadata_root_tools_timestamp_serial(document: dict[str, Any]) -> None:
    """Metadata names medwarden as the application root and tool, with clock and serial."""
    version = importlib.metadata.version("medwarden")
    assert document["serialNumber"] == f"urn:uuid:{SERIAL}"
    metadata = document["metadata"]
    assert metadata["timestamp"] == "2025-03-04T05:06:07Z"
    root = metadata["component"]
    assert root["type"] == "application"
    assert root["name"] == "medwarden"
    assert root["version"] == version
    assert root["purl"] == root["bom-ref"] == f"pkg:pypi/medwarden@{version}"
    tool = metadata["tools"]["components"][0]
    assert (tool["name"], tool["version"]) == ("medwarden", version)
    assert "medwarden" not in _by_name(document)


def test_timestamp_is_utc() -> None:
    """A clock reading in another time zone is written as UTC."""
    local = NOW.astimezone(timezone(timedelta(hours=2)))
    assert build_self_sbom(now=local, serial=SERIAL)["metadata"]["timestamp"] == (
        "2025-03-04T05:06:07Z"
    )


@pytest.mark.parametrize(
    ("name", "purl_name"),
    [
        ("sqlalchemy", "sqlalchemy"),
        ("univers", "univers"),
        ("packageurl-python", "packageurl-python"),
        ("cvss", "cvss"),
    ],
)
def test_runtime_dependencies_with_installed_versions(
    document: dict[str, Any], name: str, purl_name: str
) -> None:
    """Runtime dependencies appear as libraries with their installed version and PyPI purl."""
    component = _by_name(document)[name]
    version = importlib.metadata.version(name)
    assert component["type"] == "library"
    assert component["version"] == version
    assert component["purl"] == component["bom-ref"] == f"pkg:pypi/{purl_name}@{version}"


def test_name_is_as_installed_and_purl_is_normalised(document: dict[str, Any]) -> None:
    """The name keeps the installed spelling while the purl uses the PEP 503 name."""
    component = _by_name(document)["sqlalchemy"]
    assert component["name"] == importlib.metadata.metadata("sqlalchemy")["Name"]
    assert component["purl"].startswith("pkg:pypi/sqlalchemy@")


def test_transitive_dependencies_are_included(document: dict[str, Any]) -> None:
    """Requirements of requirements are walked (alembic -> Mako, typer -> pydantic -> core)."""
    names = _by_name(document)
    assert {"mako", "referencing", "pydantic-core"} <= set(names)


def test_dev_only_tools_are_absent(document: dict[str, Any]) -> None:
    """The dev extra is not followed: pytest, ruff, mypy and friends are not components."""
    names = set(_by_name(document))
    assert not names & {"pytest", "ruff", "mypy", "hypothesis", "import-linter", "pytest-cov"}


def test_every_dependency_ref_resolves(document: dict[str, Any]) -> None:
    """Each component and the root has one dependencies entry and every dependsOn resolves."""
    refs = {c["bom-ref"] for c in document["components"]}
    refs.add(document["metadata"]["component"]["bom-ref"])
    entries = [d["ref"] for d in document["dependencies"]]
    assert sorted(entries) == sorted(refs)
    assert all(set(d["dependsOn"]) <= refs for d in document["dependencies"])
    root = next(
        d for d in document["dependencies"] if d["ref"] == document["metadata"]["component"]["purl"]
    )
    assert any(ref.startswith("pkg:pypi/sqlalchemy@") for ref in root["dependsOn"])


def test_order_is_deterministic(document: dict[str, Any]) -> None:
    """Components are sorted by name and the same inputs give the same document."""
    keys = [canonicalize_name(c["name"]) for c in document["components"]]
    assert keys == sorted(keys)
    assert build_self_sbom(now=NOW, serial=SERIAL) == document


def test_read_back_and_scan(document: dict[str, Any], tmp_path: Path) -> None:
    """medwarden reads its own SBOM back and scans it against an empty store without error."""
    text = render_self_sbom(document)
    read = read_sbom(text.encode())
    assert len(read.sbom.components) >= len(document["components"])
    assert not [i for i in read.issues if i.severity.value == "error"]
    path = tmp_path / "self.cdx.json"
    path.write_text(text)
    db = str(tmp_path / "x.db")
    open_store(db, create=True).close()
    result = CliRunner().invoke(app, ["scan", str(path), "--db", db, "--fail-on", "none"])
    assert result.exit_code in (0, 1), result.stderr


def test_cli_writes_output_file(tmp_path: Path) -> None:
    """``medwarden sbom self --output FILE`` writes a valid CycloneDX 1.6 document."""
    path = tmp_path / "medwarden.cdx.json"
    result = CliRunner().invoke(app, ["sbom", "self", "--output", str(path)])
    assert result.exit_code == 0, result.stderr
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["specVersion"] == "1.6"
    assert document["serialNumber"].startswith("urn:uuid:")
    assert document["metadata"]["component"]["name"] == "medwarden"
    validator = make_schemabased_validator(OutputFormat.JSON, SchemaVersion.V1_6)
    assert validator.validate_str(path.read_text(encoding="utf-8")) is None


def test_cli_writes_stdout_without_output() -> None:
    """Without --output the document goes to stdout."""
    result = CliRunner().invoke(app, ["sbom", "self"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["bomFormat"] == "CycloneDX"


def test_cli_unwritable_output_exits_2(tmp_path: Path) -> None:
    """An output path that cannot be written is a usage error (exit 2)."""
    target = tmp_path / "missing-dir" / "out.json"
    result = CliRunner().invoke(app, ["sbom", "self", "--output", str(target)])
    assert result.exit_code == 2
    assert "missing-dir" in result.stderr


# --- fake environments -------------------------------------------------------------------


class _FakeDist(importlib.metadata.Distribution):
    """A distribution whose METADATA is given as text."""

    def __init__(self, metadata: str) -> None:
        self._text = metadata

    def read_text(self, filename: str) -> str | None:
        """Return the METADATA text; no other file exists."""
        return self._text if filename == "METADATA" else None

    def locate_file(self, path: str | os.PathLike[str]) -> Path:
        """Fake distributions have no files."""
        raise FileNotFoundError(str(path))


def _lookup(packages: dict[str, str]) -> Any:
    dists = {name.lower(): _FakeDist(text) for name, text in packages.items()}

    def distribution(name: str) -> importlib.metadata.Distribution:
        key = name.lower().replace("_", "-")
        if key not in dists:
            raise importlib.metadata.PackageNotFoundError(name)
        return dists[key]

    return distribution


FAKE = {
    "app": (
        "Metadata-Version: 2.4\nName: app\nVersion: 1.0\n"
        "Requires-Dist: Lib_A[fast]>=1\n"
        "Requires-Dist: lib-b; python_version < '3'\n"
        "Requires-Dist: lib-c\n"
        "Requires-Dist: ghost>=2\n"
        "Requires-Dist: devtool; extra == 'dev'\n"
    ),
    "lib-a": (
        "Metadata-Version: 2.4\nName: Lib_A\nVersion: 2.0+local.1\n"
        "Author: Ada\nAuthor-email: ada@example.org\n"
        "License-Expression: MIT OR Apache-2.0\n"
        "Classifier: License :: OSI Approved :: MIT License\n"
        "Home-page: https://lib-a.example.org\n"
        "Project-URL: Source, https://git.example.org/lib-a\n"
        "Project-URL: Broken, not a url\n"
        "Requires-Dist: speedup; extra == 'fast'\n"
        "Requires-Dist: slowdown; extra == 'slow'\n"
        "Requires-Dist: app\n"
    ),
    "lib-b": "Metadata-Version: 2.4\nName: lib-b\nVersion: 1\n",
    "lib-c": (
        "Metadata-Version: 2.1\nName: lib-c\nVersion: 3\n"
        "Author-email: Bo <bo@example.org>, Cy <cy@example.org>\n"
        "Classifier: License :: OSI Approved :: BSD License\n"
        "Classifier: License :: OSI Approved :: MIT License\n"
        "License: ignored when classifiers exist\n"
        "Requires-Dist: speedup\n"
    ),
    "speedup": (
        "Metadata-Version: 2.1\nName: speedup\nVersion: 0.1\n"
        "License: Some short licence\nMaintainer: Team S\n"
    ),
    "slowdown": "Metadata-Version: 2.1\nName: slowdown\nVersion: 9\n",
    "devtool": "Metadata-Version: 2.1\nName: devtool\nVersion: 9\n",
}


@pytest.fixture
def fake() -> dict[str, Any]:
    """The self-SBOM of a small fake environment with extras, markers and a cycle."""
    return build_self_sbom("app", now=NOW, serial=SERIAL, distribution=_lookup(FAKE))


def test_fake_markers_extras_and_missing(fake: dict[str, Any]) -> None:
    """Markers and requested extras decide the walk; absent requirements become properties."""
    assert [c["name"] for c in fake["components"]] == ["Lib_A", "lib-c", "speedup"]
    assert fake["metadata"]["properties"] == [
        {"name": "medwarden:missing-requirement", "value": "ghost>=2 (required by app)"}
    ]
    validator = make_schemabased_validator(OutputFormat.JSON, SchemaVersion.V1_6)
    assert validator.validate_str(render_self_sbom(fake)) is None


def test_fake_dependencies_and_cycle(fake: dict[str, Any]) -> None:
    """dependsOn lists direct present requirements, cycles included, sorted by ref."""
    deps = {d["ref"]: d["dependsOn"] for d in fake["dependencies"]}
    assert deps == {
        "pkg:pypi/app@1.0": ["pkg:pypi/lib-a@2.0%2Blocal.1", "pkg:pypi/lib-c@3"],
        "pkg:pypi/lib-a@2.0%2Blocal.1": ["pkg:pypi/app@1.0", "pkg:pypi/speedup@0.1"],
        "pkg:pypi/lib-c@3": ["pkg:pypi/speedup@0.1"],
        "pkg:pypi/speedup@0.1": [],
    }


def test_fake_licenses_suppliers_and_references(fake: dict[str, Any]) -> None:
    """License precedence, supplier/authors and external references follow the metadata."""
    lib_a, lib_c, speedup = fake["components"]
    assert lib_a["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
    assert lib_a["supplier"] == {"name": "Ada"}
    assert lib_a["authors"] == [{"name": "Ada", "email": "ada@example.org"}]
    assert lib_a["externalReferences"] == [
        {"type": "website", "url": "https://lib-a.example.org"},
        {"type": "vcs", "url": "https://git.example.org/lib-a"},
    ]
    assert lib_c["licenses"] == [
        {"license": {"name": "BSD License"}},
        {"license": {"name": "MIT License"}},
    ]
    assert lib_c["supplier"] == {"name": "Bo, Cy"}
    assert speedup["licenses"] == [{"license": {"name": "Some short licence"}}]
    assert speedup["supplier"] == {"name": "Team S"}
    assert "externalReferences" not in speedup


def test_long_license_text_is_not_a_name() -> None:
    """A full licence text in the License field is not used as a licence name."""
    packages = {"app": "Metadata-Version: 2.1\nName: app\nVersion: 1\nLicense: " + "x" * 150}
    document = build_self_sbom("app", now=NOW, serial=SERIAL, distribution=_lookup(packages))
    assert "licenses" not in document["metadata"]["component"]
    assert document["components"] == []
