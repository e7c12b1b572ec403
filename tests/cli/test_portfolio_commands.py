"""``medwarden product|release|findings|portfolio``: the portfolio from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from medwarden.cli.app import app
from tests.portfolio_helpers import LODASH_23337, MOMENT_24785, cdx, npm


def _ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result.stdout


def test_portfolio_workflow(runner: CliRunner, store_url: str, tmp_path: Path) -> None:
    db = ["--db", store_url]
    sbom = tmp_path / "pump-1.0.cdx.json"
    sbom.write_bytes(
        cdx(
            npm("lodash", "4.17.15"),
            npm("moment", "2.29.1", levelOfSupport="abandoned", supportJustification="archived"),
        )
    )
    _ok(runner, "intel", "load", str(LODASH_23337), *db)
    _ok(
        runner,
        "product",
        "add",
        "pump",
        "--name",
        "Insulin pump",
        "--class",
        "IIb",
        "--market",
        "EU:MDR",
        "--market",
        "US:FDA-524B",
        *db,
    )
    assert "EU:MDR, US:FDA-524B" in _ok(runner, "product", "list", *db)
    _ok(runner, "release", "add", "pump", "1.0", "--state", "fielded", *db)
    out = _ok(runner, "release", "import", "pump", "1.0", str(sbom), *db)
    assert "revision 1, 2 components" in out
    assert "1 new" in out
    # new intelligence: `intel load` re-evaluates the portfolio on its own
    out = _ok(runner, "intel", "load", str(MOMENT_24785), *db)
    assert "portfolio re-evaluated" in out
    assert "1 new" in out
    listed = json.loads(
        _ok(runner, "findings", "list", "--product", "pump", "--format", "json", *db)
    )
    assert sorted(f["vulnerability_id"] for f in listed["items"]) == [
        "CVE-2021-23337",
        "CVE-2022-24785",
    ]
    shown = json.loads(_ok(runner, "findings", "show", str(listed["items"][0]["id"]), *db))
    assert shown["evidence"]["matches"]
    assert "revision" in _ok(runner, "release", "revisions", "pump", "1.0", *db).lower()
    assert json.loads(_ok(runner, "release", "sbom", "pump", "1.0", *db))["specVersion"] == "1.6"
    base = tmp_path / "base.csv"
    base.write_text("device_id,product,version,site\nSN-1,pump,1.0,Ward 3\n")
    assert "1 new" in _ok(runner, "portfolio", "installed-base", str(base), *db)
    used = json.loads(
        _ok(runner, "portfolio", "where-used", "--name", "lodash", "--format", "json", *db)
    )
    assert [(u["release"], u["units"]) for u in used] == [("1.0", 1)]
    eos = _ok(runner, "portfolio", "end-of-support", "--today", "2026-11-22", *db)
    assert "moment@2.29.1" in eos
    assert "abandoned" in eos
    assert "nothing to re-evaluate" in _ok(runner, "portfolio", "reevaluate", *db)
    _ok(runner, "release", "state", "pump", "1.0", "end_of_support", "--reason", "replaced", *db)
    assert "end_of_support" in _ok(runner, "release", "list", "pump", *db)


def test_errors_exit_2_with_their_code(runner: CliRunner, store_url: str, tmp_path: Path) -> None:
    db = ["--db", store_url]
    _ok(runner, "product", "add", "pump", "--name", "Pump", *db)
    again = runner.invoke(app, ["product", "add", "pump", "--name", "Pump", *db])
    assert again.exit_code == 2
    assert "MW004" in again.stderr
    missing = runner.invoke(app, ["release", "list", "nope", *db])
    assert missing.exit_code == 2
    assert "MW003" in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    _ok(runner, "release", "add", "pump", "1.0", *db)
    broken = runner.invoke(app, ["release", "import", "pump", "1.0", str(bad), *db])
    assert broken.exit_code == 2
    assert "MW11" in broken.stderr
    assert "-" in _ok(runner, "release", "list", "pump", *db)  # still no revision
