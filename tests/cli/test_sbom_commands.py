"""Tests of ``medwarden sbom validate`` and ``medwarden sbom ntia``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from medwarden.cli.app import app
from tests.cli.conftest import SAMPLE_SBOM


def test_validate_valid_sbom_exits_0(runner: CliRunner) -> None:
    """A schema-valid SBOM validates with exit 0 and a summary line."""
    result = runner.invoke(app, ["sbom", "validate", str(SAMPLE_SBOM)])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "0 error(s)" in result.stdout


def test_validate_reports_issue_pointers(runner: CliRunner, tmp_path: Path) -> None:
    """Schema errors are listed with their JSON pointer and exit 2."""
    path = tmp_path / "invalid.cdx.json"
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "components": [{"type": "not-a-type", "name": "x", "bom-ref": "x"}],
    }
    path.write_text(json.dumps(document))
    result = runner.invoke(app, ["sbom", "validate", str(path)])
    assert result.exit_code == 2
    assert "/components/0" in result.stdout


def test_validate_strict_raises_schema_error(runner: CliRunner, tmp_path: Path) -> None:
    """With --strict a schema violation is an input error with diagnostics on stderr."""
    path = tmp_path / "invalid.cdx.json"
    path.write_text(
        json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"x": 1}]})
    )
    result = runner.invoke(app, ["sbom", "validate", "--strict", str(path)])
    assert result.exit_code == 2
    assert "[MW11" in result.stderr


def test_ntia_table(runner: CliRunner) -> None:
    """sbom ntia prints the seven elements and a completeness line."""
    result = runner.invoke(app, ["sbom", "ntia", str(SAMPLE_SBOM)])
    assert result.exit_code == 0, result.stderr
    assert "supplier" in result.stdout
    assert "component(s) complete" in result.stdout
