"""``medwarden device ...`` and ``medwarden ledger export|verify|checkpoint|key`` end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from medwarden.cli.app import app
from medwarden.core.b64 import b64url_encode
from medwarden.core.clock import FixedClock
from medwarden.keys import load_or_create_signer
from medwarden.services.telemetry import ingest_batch
from medwarden.store import open_store
from medwarden.telemetry.devices import public_key_to_bytes
from medwarden.telemetry.envelope import record_hash, sign_record
from medwarden.telemetry.records import GENESIS, DeviceRecord, RecordType

NOW = datetime.now(UTC).replace(microsecond=0)


def _signed_chain(key: Ed25519PrivateKey, n: int, boots: tuple[str, ...] = ("b1",)) -> list[dict]:
    out, prev, i = [], GENESIS, 0
    for boot in boots:
        for seq in range(n):
            rec = DeviceRecord(
                "pump-7",
                boot,
                seq,
                NOW + timedelta(seconds=i),
                prev,
                RecordType.SENSOR_READING,
                {"glucose_mg_dl": 90 + seq},
            )
            out.append(sign_record(key, rec).to_json())
            prev, i = record_hash(rec), i + 1
    return out


@pytest.fixture
def ledger_env(tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> dict:
    db = str(tmp_path / "m.db")
    monkeypatch.setenv("MEDWARDEN_LEDGER_KEY", str(tmp_path / "ledger.pem"))
    key = Ed25519PrivateKey.generate()
    pub = b64url_encode(public_key_to_bytes(key.public_key()))
    assert runner.invoke(app, ["device", "model", "set", "pump-x", "--db", db]).exit_code == 0
    result = runner.invoke(
        app,
        [
            "device",
            "register",
            "pump-7",
            "--model",
            "pump-x",
            "--serial",
            "S7",
            "--software-version",
            "3.0",
            "--controller",
            "oref0-determine-basal@0.7.1",
            "--public-key",
            pub,
            "--db",
            db,
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().startswith("mwd_")
    signer = load_or_create_signer(tmp_path / "ledger.pem")
    with open_store(db) as store:
        items = _signed_chain(key, 6, ("b1", "b2"))
        results = ingest_batch(
            store.ledger, signer, "pump-7", items, clock=FixedClock(NOW), transport="https"
        )
        assert {r.status for r in results} == {"accepted"}
    return {"db": db, "key": key, "signer": signer, "dir": tmp_path}


def _export(runner: CliRunner, env: dict) -> Path:
    assert runner.invoke(app, ["ledger", "checkpoint", "--db", env["db"]]).exit_code == 0
    out = env["dir"] / "ledger.jsonl"
    result = runner.invoke(app, ["ledger", "export", "-o", str(out), "--db", env["db"]])
    assert result.exit_code == 0, result.stderr
    return out


def _lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _write(path: Path, lines: list[dict]) -> None:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))


def test_export_verifies_with_pinned_key_and_signatures(
    runner: CliRunner, ledger_env: dict
) -> None:
    out = _export(runner, ledger_env)
    pinned = runner.invoke(app, ["ledger", "key", "--db", ledger_env["db"]]).stdout.strip()
    result = runner.invoke(
        app, ["ledger", "verify", str(out), "--server-key", pinned, "--signatures"]
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "1 devices, 12 records, 1 checkpoints" in result.stdout


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (
            lambda ls: ls[4]["envelope"]["record"]["body"].update(glucose_mg_dl=400),
            "ledger index 4",
        ),
        (lambda ls: ls.pop(3), "expected ledger index 2"),
        (lambda ls: ls[-1].update(root_hash="00" * 32), "checkpoint"),
        (lambda ls: ls[-1].update(tree_size=5), "checkpoint"),
        (lambda ls: ls.insert(3, ls[2]), "expected ledger index 2"),
    ],
    ids=["altered-body", "deleted-record", "forged-root", "moved-checkpoint", "duplicated"],
)
def test_verify_names_the_first_bad_record(
    runner: CliRunner, ledger_env: dict, tamper, expected: str
) -> None:
    out = _export(runner, ledger_env)
    lines = _lines(out)
    tamper(lines)
    _write(out, lines)
    result = runner.invoke(app, ["ledger", "verify", str(out)])
    assert result.exit_code == 4
    assert expected in result.stderr


def test_signature_swap_needs_signature_check(runner: CliRunner, ledger_env: dict) -> None:
    out = _export(runner, ledger_env)
    lines = _lines(out)
    other = sign_record(
        Ed25519PrivateKey.generate(),
        DeviceRecord(
            "pump-7", "x", 0, NOW, GENESIS, RecordType.ALARM, {"code": "x", "severity": "low"}
        ),
    ).to_json()["sig"]
    lines[2]["envelope"]["sig"] = other
    _write(out, lines)
    # the leaf commits to the signature, so the tree (and checkpoint) no longer match
    assert runner.invoke(app, ["ledger", "verify", str(out)]).exit_code == 4
    result = runner.invoke(app, ["ledger", "verify", str(out), "--signatures"])
    assert result.exit_code == 4
    assert "ledger index 1" in result.stderr
    assert "signature" in result.stderr


def test_pinned_key_mismatch_fails(runner: CliRunner, ledger_env: dict) -> None:
    out = _export(runner, ledger_env)
    stranger = Ed25519PrivateKey.generate()
    kid = ledger_env["signer"].key_id
    pinned = f"{kid}={b64url_encode(public_key_to_bytes(stranger.public_key()))}"
    result = runner.invoke(app, ["ledger", "verify", str(out), "--server-key", pinned])
    assert result.exit_code == 4
    assert "not signed by the ledger key" in result.stderr


def test_device_list_and_events(runner: CliRunner, ledger_env: dict) -> None:
    listed = runner.invoke(app, ["device", "list", "--db", ledger_env["db"]])
    assert json.loads(listed.stdout)["controller_version"] == "0.7.1"
    with open_store(ledger_env["db"]) as store:
        replay = _signed_chain(ledger_env["key"], 2)[1]
        replay["record"]["body"]["glucose_mg_dl"] = 55
        ingest_batch(
            store.ledger,
            ledger_env["signer"],
            "pump-7",
            [replay],
            clock=FixedClock(NOW),
            transport="mqtt",
        )
    events = runner.invoke(app, ["device", "events", "pump-7", "--db", ledger_env["db"]]).stdout
    kinds = [json.loads(line)["kind"] for line in events.splitlines()]
    assert "new_boot" in kinds
    assert "bad_signature" in kinds
