"""Devices, HTTPS telemetry ingest, ledger proofs and timelines over the REST API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import text

from medwarden.core.b64 import b64url_decode, b64url_encode
from medwarden.store import open_store
from medwarden.telemetry.devices import public_key_to_bytes
from medwarden.telemetry.envelope import record_hash, sign_record
from medwarden.telemetry.ledger.checkpoint import Checkpoint
from medwarden.telemetry.ledger.merkle import verify_consistency, verify_inclusion
from medwarden.telemetry.receipts import Receipt
from medwarden.telemetry.records import GENESIS, DeviceRecord, RecordType
from tests.api.conftest import Api, assert_problem
from tests.auth.conftest import T0

INGEST = "/api/v1/telemetry/records"


def _loop(key: Ed25519PrivateKey, n: int) -> list[dict]:
    """n control loops: reading, decision, command, confirmation."""
    out, prev, seq = [], GENESIS, 0
    for i in range(n):
        at = T0 - timedelta(minutes=5 * (n - i))
        bodies = [
            (RecordType.SENSOR_READING, {"glucose_mg_dl": 110 + i}),
            (
                RecordType.CONTROLLER_DECISION,
                {
                    "algorithm": "ref",
                    "algorithm_version": "1",
                    "inputs": {"bg": 110 + i},
                    "output": {"rate_u_h": 0.8, "duration_min": 30, "smb_u": 0},
                },
            ),
            (
                RecordType.ACTUATOR_COMMAND,
                {
                    "command_id": f"c{i}",
                    "kind": "temp_basal",
                    "decision_seq": seq + 1,
                    "rate_u_h": 0.8,
                    "duration_min": 30,
                },
            ),
            (
                RecordType.ACTUATOR_CONFIRMATION,
                {"command_id": f"c{i}", "status": "delivered", "rate_u_h": 0.8},
            ),
        ]
        for kind, body in bodies:
            rec = DeviceRecord("pump-a", "b1", seq, at + timedelta(seconds=seq), prev, kind, body)
            out.append(sign_record(key, rec).to_json())
            prev, seq = record_hash(rec), seq + 1
    return out


@pytest.fixture
def device(api: Api) -> tuple[str, Ed25519PrivateKey]:
    with open_store(api.url) as store:
        store.devices.set_model("aid-x", {}, at=T0, actor="test")
    body = {
        "device_id": "pump-a",
        "model": "aid-x",
        "serial": "SN-A",
        "software_version": "4.2",
        "controller_algorithm": "ref",
        "controller_version": "1",
        "patient_ref": "PSN-77",
    }
    made = api.call("POST", "/api/v1/devices", "admin", json=body)
    assert made.status_code == 201, made.text
    credential = made.json()["credential"]
    key = Ed25519PrivateKey.generate()
    pub = b64url_encode(public_key_to_bytes(key.public_key()))
    enrolled = api.call("POST", "/api/v1/devices/pump-a/keys", "admin", json={"public_key": pub})
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["state"] == "active"
    return credential, key


def _server_key(api: Api) -> Ed25519PublicKey:
    keys = api.call("GET", "/api/v1/ledger/keys", "reader").json()
    assert len(keys) == 1
    return Ed25519PublicKey.from_public_bytes(b64url_decode(next(iter(keys.values()))))


def test_device_submits_and_gets_verifiable_receipts(api: Api, device: tuple) -> None:
    credential, key = device
    items = _loop(key, 3)
    first = api.client.post(INGEST, token=credential, json={"records": items[:8]})
    assert first.status_code == 200, first.text
    results = first.json()["results"]
    assert [r["status"] for r in results] == ["accepted"] * 8
    server = _server_key(api)
    for r in results:
        Receipt.from_json(r["receipt"]).verify(server)
    again = api.client.post(INGEST, token=credential, json={"records": items}).json()["results"]
    assert [r["status"] for r in again] == ["duplicate"] * 8 + ["accepted"] * 4
    assert [r["receipt"] for r in again[:8]] == [r["receipt"] for r in results]


def test_bad_bodies_are_problems_and_store_nothing(api: Api, device: tuple) -> None:
    credential, _ = device
    assert_problem(api.client.post(INGEST, token=credential, content=b"{nope"), 422, "MW100")
    assert_problem(api.client.post(INGEST, token=credential, json={"records": []}), 400, "MW001")
    assert_problem(api.client.post(INGEST, token=credential, json=[1]), 422, "MW100")
    too_many = {"records": [{"v": 1}] * 1001}
    assert_problem(api.client.post(INGEST, token=credential, json=too_many), 413, "MW101")
    head = api.call("GET", "/api/v1/ledger/devices/pump-a/checkpoint", "reader").json()
    assert head["tree_size"] == 0


def test_proofs_verify_against_signed_checkpoints(api: Api, device: tuple) -> None:
    credential, key = device
    items = _loop(key, 4)
    api.client.post(INGEST, token=credential, json={"records": items[:5]})
    old = Checkpoint.from_json(
        api.call("GET", "/api/v1/ledger/devices/pump-a/checkpoint", "reader").json()
    )
    results = api.client.post(INGEST, token=credential, json={"records": items[5:]}).json()[
        "results"
    ]
    new = Checkpoint.from_json(
        api.call("GET", "/api/v1/ledger/devices/pump-a/checkpoint", "auditor").json()
    )
    server = _server_key(api)
    old.verify(server)
    new.verify(server)
    assert (old.tree_size, new.tree_size) == (5, 16)
    target = results[3]["receipt"]["record_hash"]
    proof = api.call(
        "GET", f"/api/v1/ledger/devices/pump-a/proofs/inclusion?record_hash={target}", "reader"
    ).json()
    assert proof["root_hash"] == new.root_hash.hex()
    assert verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        proof["leaf_index"],
        16,
        [bytes.fromhex(h) for h in proof["audit_path"]],
        new.root_hash,
    )
    cons = api.call(
        "GET", "/api/v1/ledger/devices/pump-a/proofs/consistency?first=5&second=16", "reader"
    ).json()
    assert verify_consistency(
        5, 16, old.root_hash, new.root_hash, [bytes.fromhex(h) for h in cons["proof"]]
    )
    history = api.call("GET", "/api/v1/ledger/devices/pump-a/checkpoints", "auditor").json()
    assert [c["tree_size"] for c in history] == [5, 16]


def test_timeline_json_and_fhir_and_tamper_evidence(api: Api, device: tuple) -> None:
    credential, key = device
    api.client.post(INGEST, token=credential, json={"records": _loop(key, 3)})
    window = {"start": (T0 - timedelta(hours=1)).isoformat(), "end": T0.isoformat()}
    body = api.call("GET", "/api/v1/devices/pump-a/timeline", "reader", params=window).json()
    assert body["verification"]["status"] == "intact"
    episodes = [e for e in body["entries"] if e["kind"] == "episode"]
    assert len(episodes) == 3
    fhir = api.call(
        "GET", "/api/v1/devices/pump-a/timeline", "reader", params={**window, "format": "fhir"}
    )
    assert fhir.headers["content-type"] == "application/fhir+json"
    kinds = {e["resource"]["resourceType"] for e in fhir.json()["entry"]}
    assert {"Device", "Observation", "Provenance"} <= kinds
    with open_store(api.url) as store, store.database.write("tamper") as conn:
        conn.execute(
            text(
                "UPDATE telemetry_record SET record_json = replace(record_json, :a, :b) "
                "WHERE ledger_index = 0"
            ),
            {"a": '"glucose_mg_dl":110', "b": '"glucose_mg_dl":40'},
        )
    after = api.call("GET", "/api/v1/devices/pump-a/timeline", "reader", params=window).json()
    assert after["verification"]["status"] == "broken"
    assert after["verification"]["inclusion_unverified"], after["verification"]


def test_devices_are_listed_and_keys_rotate_and_revoke(api: Api, device: tuple) -> None:
    listed = api.call("GET", "/api/v1/devices", "reader").json()
    assert [d["device_id"] for d in listed] == ["pump-a"]
    assert "credential" not in listed[0]
    new = b64url_encode(public_key_to_bytes(Ed25519PrivateKey.generate().public_key()))
    rotated = api.call(
        "POST", "/api/v1/devices/pump-a/keys/rotate", "admin", json={"public_key": new}
    )
    assert rotated.status_code == 200
    keys = api.call("GET", "/api/v1/devices/pump-a/keys", "reader").json()
    assert sorted(k["state"] for k in keys) == ["active", "rotated"]
    kid = rotated.json()["key_id"]
    revoked = api.call(
        "POST", f"/api/v1/devices/pump-a/keys/{kid}/revoke", "admin", json={"reason": "lost"}
    )
    assert revoked.json()["state"] == "revoked"
    assert_problem(
        api.call("POST", "/api/v1/devices/pump-a/keys/rotate", "reader", json={"public_key": new}),
        403,
        "MW502",
    )


def test_a_batch_that_stored_records_queues_the_device_checks(api: Api, device: tuple) -> None:
    credential, key = device
    items = _loop(key, 1)
    api.client.post(INGEST, token=credential, json={"records": items})
    api.client.post(INGEST, token=credential, json={"records": items})  # duplicates only
    with open_store(api.url) as store, store.database.read("jobs") as conn:
        rows = conn.execute(text("SELECT kind, args_json, state FROM job")).all()
    assert [(kind, state) for kind, _args, state in rows] == [("telemetry_checks", "queued")]
    assert "pump-a" in rows[0][1]
