"""``medwarden release support``, ``release sbom --annotated``, ``portfolio evidence``,
``portfolio register-self`` on each backend."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from medwarden.cli.app import app
from medwarden.store import open_store
from tests.portfolio_helpers import cdx, npm

MS = "pkg:npm/ms@2.1.3"


def _run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _ok(runner: CliRunner, *args: str) -> str:
    code, out, err = _run(runner, *args)
    assert code == 0, (args, out, err)
    return out


def _pump(runner: CliRunner, db: list[str], tmp_path: Path) -> None:
    sbom = tmp_path / "pump.cdx.json"
    sbom.write_bytes(
        cdx(
            npm("lodash", "4.17.15", levelOfSupport="abandoned", eol="2024-01-01"),
            npm("ms", "2.1.3"),
        )
    )
    _ok(runner, "product", "add", "pump", "--name", "Pump", *db)
    _ok(runner, "release", "add", "pump", "1.0", "--state", "fielded", *db)
    _ok(runner, "release", "import", "pump", "1.0", str(sbom), *db)


def test_release_support_and_the_annotated_sbom(
    runner: CliRunner, store_url: str, tmp_path: Path
) -> None:
    """Set, refuse, clear; --annotated writes the records, the plain download stays as imported."""
    db = ["--db", store_url]
    _pump(runner, db, tmp_path)
    out = _ok(
        runner,
        "release",
        "support",
        "pump",
        "1.0",
        MS,
        "--level",
        "actively maintained",
        "--end-of-support",
        "2030-01-31",
        "--reason",
        "vendor roadmap",
        *db,
    )
    assert "level actively_maintained, end of support 2030-01-31" in out
    code, _out, err = _run(
        runner, "release", "support", "pump", "1.0", MS, "--level", "abandoned", *db
    )
    assert code == 2
    assert "MW005" in err
    code, _out, err = _run(runner, "release", "support", "pump", "1.0", MS, *db)
    assert code == 2
    assert "--clear" in err
    out = _ok(runner, "release", "support", "pump", "1.0", "pkg:npm/lodash@4.17.15", "--clear", *db)
    assert "cleared" in out
    annotated = json.loads(_ok(runner, "release", "sbom", "pump", "1.0", "--annotated", *db))
    by_ref = {c["bom-ref"]: c.get("properties", []) for c in annotated["components"]}
    assert by_ref["pkg:npm/lodash@4.17.15"] == []
    assert {"name": "medwarden:end_of_support", "value": "2030-01-31"} in by_ref[MS]
    plain = json.loads(_ok(runner, "release", "sbom", "pump", "1.0", *db))
    assert plain["components"][0]["properties"][0]["name"] == "levelOfSupport"
    code, _out, err = _run(
        runner, "release", "sbom", "pump", "1.0", "--annotated", "--revision", "1", *db
    )
    assert code == 2


def test_portfolio_evidence_writes_a_verifiable_pack(
    runner: CliRunner, store_url: str, tmp_path: Path
) -> None:
    """The pack's files match its SHA256SUMS; the printed checkpoint verifies the trail."""
    db = ["--db", store_url]
    _pump(runner, db, tmp_path)
    pack = tmp_path / "pack.zip"
    out = _ok(runner, "portfolio", "evidence", "pump", "1.0", "--output", str(pack), *db)
    assert hashlib.sha256(pack.read_bytes()).hexdigest() in out
    with zipfile.ZipFile(io.BytesIO(pack.read_bytes())) as archive:
        sums = archive.read("SHA256SUMS").decode().splitlines()
        for line in sums:
            digest, path = line.split("  ", 1)
            assert hashlib.sha256(archive.read(path)).hexdigest() == digest
        checkpoint = json.loads(archive.read("manifest.json"))["audit"]["checkpoint"]
        assert hashlib.sha256(archive.read("manifest.json")).hexdigest() in out
    assert checkpoint in out
    _ok(runner, "audit", "verify", "--checkpoint", checkpoint, *db)
    code, _out, err = _run(runner, "portfolio", "evidence", "pump", "9.9", "-o", str(pack), *db)
    assert code == 2
    assert "MW003" in err


def test_register_self_makes_the_backend_a_monitored_product(
    runner: CliRunner, store_url: str
) -> None:
    """R63: the backend appears as a product with an SBOM revision and a daily schedule;
    running it again imports nothing."""
    db = ["--db", store_url]
    out = _ok(runner, "portfolio", "register-self", *db)
    assert "created, monitored every 24 h" in out
    assert "SBOM imported as revision 1" in out
    again = _ok(runner, "portfolio", "register-self", *db)
    assert "SBOM unchanged: revision 1" in again
    with open_store(store_url, create=False) as store:
        product = store.portfolio.product("medwarden")
        assert product.monitoring_interval_s == 24 * 3600
        (release,) = store.portfolio.releases("medwarden")
        assert release.current_revision is not None
        assert release.current_revision.component_count > 5
        assert "medwarden" in {s.slug for s in store.monitoring.schedules()}
