"""Tests of ``medwarden scan``: exit codes, formats, VEX and error reporting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medwarden.cli.app import app
from tests.cli.conftest import SAMPLE_SBOM

VEX = Path(__file__).parents[1] / "fixtures" / "vex"


def test_help_lists_commands(runner: CliRunner) -> None:
    """``medwarden --help`` lists the scan, intel and sbom commands."""
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("scan", "intel", "sbom"):
        assert command in result.stdout


def test_missing_sbom_exits_2(runner: CliRunner, loaded_db: str) -> None:
    """A missing SBOM file exits 2 with the error's diagnostics on stderr."""
    result = runner.invoke(app, ["scan", "/no/such/sbom.json", "--db", loaded_db])
    assert result.exit_code == 2
    assert "[MW112]" in result.stderr
    assert "/no/such/sbom.json" in result.stderr


def test_malformed_sbom_exits_2_with_location(
    runner: CliRunner, loaded_db: str, tmp_path: Path
) -> None:
    """A malformed SBOM exits 2 and stderr says where the problem is."""
    bad = tmp_path / "bad.cdx.json"
    bad.write_text('{\n  "bomFormat": "CycloneDX",\n  "components": [\n')
    result = runner.invoke(app, ["scan", str(bad), "--db", loaded_db])
    assert result.exit_code == 2
    assert "where:" in result.stderr
    assert "bad.cdx.json" in result.stderr


def test_malformed_vex_exits_2(runner: CliRunner, loaded_db: str, tmp_path: Path) -> None:
    """A malformed VEX document exits 2 with its pointer on stderr."""
    vex = tmp_path / "bad.vex.json"
    vex.write_text('{"statements": [{"vulnerability": "CVE-1", "status": "affected"}]}')
    result = runner.invoke(app, ["scan", str(SAMPLE_SBOM), "--db", loaded_db, "--vex", str(vex)])
    assert result.exit_code == 2
    assert "[MW130]" in result.stderr
    assert "/statements/0/products" in result.stderr


def test_bad_format_choice_exits_2(runner: CliRunner) -> None:
    """An unknown --format value is a usage error (exit 2)."""
    result = runner.invoke(app, ["scan", str(SAMPLE_SBOM), "--format", "xml"])
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [("none", 0), ("kev", 0), ("critical", 1), ("high", 1), ("low", 1)],
)
def test_fail_on_thresholds(runner: CliRunner, loaded_db: str, fail_on: str, code: int) -> None:
    """The sample SBOM has critical findings but none in KEV: exit codes follow --fail-on."""
    args = ["scan", str(SAMPLE_SBOM), "--db", loaded_db, "--fail-on", fail_on]
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.stderr


def test_clean_sbom_exits_0(runner: CliRunner, loaded_db: str, clean_sbom: Path) -> None:
    """An SBOM without known vulnerabilities exits 0 even with --fail-on low."""
    result = runner.invoke(app, ["scan", str(clean_sbom), "--db", loaded_db, "--fail-on", "low"])
    assert result.exit_code == 0, result.stderr
    assert "0 active finding(s)" in result.stdout


def test_table_shows_findings_and_skipped(runner: CliRunner, loaded_db: str) -> None:
    """The table lists findings with severity and the components that were not analysed."""
    result = runner.invoke(app, ["scan", str(SAMPLE_SBOM), "--db", loaded_db, "--fail-on", "none"])
    assert result.exit_code == 0
    assert "CVE-2021-23337" in result.stdout
    assert "critical" in result.stdout
    assert "Components not analysed" in result.stdout


@pytest.mark.parametrize("fmt", ["json", "sarif", "cyclonedx"])
def test_machine_formats_write_json(
    runner: CliRunner, loaded_db: str, tmp_path: Path, fmt: str
) -> None:
    """json, sarif and cyclonedx formats write parseable JSON to --output."""
    out = tmp_path / f"report.{fmt}.json"
    args = ["scan", str(SAMPLE_SBOM), "--db", loaded_db, "-f", fmt, "-o", str(out)]
    result = runner.invoke(app, [*args, "--fail-on", "none"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    data = json.loads(out.read_text())
    assert data.get("schema_version") or data.get("version") == "2.1.0" or data.get("bomFormat")


def test_vex_suppresses_in_json(runner: CliRunner, loaded_db: str, tmp_path: Path) -> None:
    """A VEX not_affected statement for lodash suppresses its finding; it stays in the JSON."""
    vex = tmp_path / "lodash.openvex.json"
    vex.write_text(
        json.dumps(
            {
                "@context": "https://openvex.dev/ns/v0.2.0",
                "statements": [
                    {
                        "vulnerability": {"name": "GHSA-35jh-r3h4-6jhm"},
                        "products": [{"@id": "pkg:npm/lodash"}],
                        "status": "not_affected",
                        "justification": "vulnerable_code_not_in_execute_path",
                    }
                ],
            }
        )
    )
    args = ["scan", str(SAMPLE_SBOM), "--db", loaded_db, "-f", "json", "--vex", str(vex)]
    result = runner.invoke(app, [*args, "--fail-on", "none"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    lodash = [f for f in data["findings"] if f["vulnerability_id"] == "CVE-2021-23337"]
    assert lodash
    assert lodash[0]["suppressed"] is True
    assert data["vex_documents"] == [str(vex)]


def test_other_products_vex_changes_nothing(runner: CliRunner, loaded_db: str) -> None:
    """trivy's project VEX speaks of trivy, so the sample device scan is unchanged by it."""
    base = ["scan", str(SAMPLE_SBOM), "--db", loaded_db, "-f", "json", "--fail-on", "none"]
    plain = json.loads(runner.invoke(app, base).stdout)["summary"]
    vex = str(VEX / "openvex" / "trivy_project_trivy.openvex.json")
    with_vex = json.loads(runner.invoke(app, [*base, "--vex", vex]).stdout)["summary"]
    assert with_vex["suppressed"] == 0
    assert with_vex["active"] == plain["active"]


def test_missing_store_is_a_store_error(runner: CliRunner, tmp_path: Path) -> None:
    """Scanning against a store that does not exist exits 3 with a hint to load intelligence."""
    db = str(tmp_path / "absent.db")
    result = runner.invoke(app, ["scan", str(SAMPLE_SBOM), "--db", db])
    assert result.exit_code == 3
    assert "[MW30" in result.stderr
    assert "absent.db" in result.stderr


def test_real_subprocess_exit_codes(loaded_db: str, tmp_path: Path) -> None:
    """The installed console script maps a finding to 1 and a missing file to 2."""
    script = Path(sys.executable).with_name("medwarden")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "medwarden.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDWARDEN_")}
    found = subprocess.run(
        [*command, "scan", str(SAMPLE_SBOM), "--db", loaded_db, "--fail-on", "critical"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert found.returncode == 1, found.stderr
    assert "CVE-2022-1471" in found.stdout
    missing = subprocess.run(
        [*command, "scan", str(tmp_path / "nope.json"), "--db", loaded_db],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert missing.returncode == 2
    assert "[MW112]" in missing.stderr


_XXE = (
    '<?xml version="1.0"?>\n<!DOCTYPE bom [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    '<bom xmlns="http://cyclonedx.org/schema/bom/1.4" version="1"><components>'
    '<component type="library"><name>&x;</name></component></components></bom>\n'
)


def _truncated(path: Path) -> None:
    path.write_text('{\n  "bomFormat": "CycloneDX",\n  "specVersion": "1.6",\n  "compo')


def _xxe(path: Path) -> None:
    path.write_text(_XXE)


def _huge(path: Path) -> None:
    with path.open("wb") as handle:  # sparse: claims 2 GiB, occupies nothing
        handle.truncate(2 * 1024**3)


def _wrong_types(path: Path) -> None:
    path.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": 7}))


@pytest.mark.parametrize(
    ("make", "code", "where"),
    [
        (_truncated, "[MW112]", "line 4"),
        (_xxe, "[MW112]", "bad.input"),
        (_huge, "[MW101]", "bad.input"),
        (_wrong_types, "[MW112]", "at /components"),
    ],
    ids=["truncated-json", "xml-external-entity", "2-GiB-claim", "wrong-types"],
)
def test_malformed_inputs_exit_2_naming_the_problem(
    runner: CliRunner, loaded_db: str, tmp_path: Path, make: object, code: str, where: str
) -> None:
    """Truncated JSON, XXE, a 2 GiB file and wrong types each exit 2 with code and location."""
    bad = tmp_path / "bad.input"
    make(bad)  # type: ignore[operator]
    result = runner.invoke(app, ["scan", str(bad), "--db", loaded_db])
    assert result.exit_code == 2, result.stderr
    assert code in result.stderr
    assert where in result.stderr
    assert "Traceback" not in result.stderr
