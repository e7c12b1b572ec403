"""Fixtures for CLI tests: a store loaded with the bundled sample intelligence, sample SBOMs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medwarden.cli.app import app
from tests.store.conftest import store_url  # noqa: F401 - every backend, for CLI tests too

SAMPLE = Path(__file__).parents[2] / "src" / "medwarden" / "data" / "sample"
SAMPLE_SBOM = SAMPLE / "sbom.cdx.json"


@pytest.fixture(scope="session")
def loaded_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store holding the bundled sample intelligence (loaded once per session)."""
    db = str(tmp_path_factory.mktemp("store") / "medwarden.db")
    result = CliRunner().invoke(app, ["intel", "load", str(SAMPLE / "intel"), "--db", db])
    assert result.exit_code == 0, result.stderr
    return db


@pytest.fixture
def clean_sbom(tmp_path: Path) -> Path:
    """A CycloneDX 1.6 SBOM of one component no advisory mentions."""
    path = tmp_path / "clean.cdx.json"
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "components": [
            {
                "type": "library",
                "bom-ref": "left-pad",
                "name": "left-pad",
                "version": "1.3.0",
                "purl": "pkg:npm/left-pad@1.3.0",
            }
        ],
    }
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def runner() -> CliRunner:
    """A Typer CLI runner."""
    return CliRunner()
