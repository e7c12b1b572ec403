"""Signatures verified before the ingest transaction are re-checked inside it; parallel verify."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medwarden.core.clock import FixedClock
from medwarden.services.telemetry import ingest_batch
from medwarden.store import SqlStore
from medwarden.telemetry.devices import key_id, public_key_to_bytes
from medwarden.telemetry.ledger import verify as ledger_verify
from medwarden.telemetry.records import GENESIS
from tests.store.test_ledger_repository import SIGNER, T0, _chain, device_key  # noqa: F401

AT = T0 + timedelta(minutes=45)


def _ingest(store: SqlStore, items: list) -> list:
    return ingest_batch(
        store.ledger, SIGNER, "pump-1", items, clock=FixedClock(AT), transport="https"
    )


def test_key_revoked_after_it_was_cached_is_not_trusted(
    store: SqlStore,
    device_key: Ed25519PrivateKey,  # noqa: F811 - the imported fixture
) -> None:
    first = _ingest(store, _chain(3, device_key))
    assert [r.status for r in first] == ["accepted"] * 3  # the device's keys are now cached
    head = first[-1].receipt
    assert head is not None
    kid = key_id(public_key_to_bytes(device_key.public_key()))
    store.devices.revoke_key("pump-1", kid, at=T0, actor="test", reason="stolen")
    later = _chain(2, device_key, start=3, prev=head.record_hash)
    results = _ingest(store, later)
    assert [r.status for r in results] == ["rejected", "rejected"]
    assert {r.error_code for r in results} == {"MW401"}
    assert store.ledger.tree_head("pump-1")[0] == 3


def test_key_enrolled_after_the_cache_is_used(
    store: SqlStore,
    device_key: Ed25519PrivateKey,  # noqa: F811 - the imported fixture
) -> None:
    assert _ingest(store, _chain(1, device_key))[0].status == "accepted"
    new = Ed25519PrivateKey.generate()
    store.devices.rotate_key("pump-1", public_key_to_bytes(new.public_key()), at=AT, actor="t")
    results = _ingest(store, _chain(1, new, start=0, prev=GENESIS))
    # the same record (same canonical bytes, so the same hash) signed by the new key: a
    # duplicate -- reached only because the signature verified with the key the cache did
    # not know yet (otherwise MW401)
    assert (results[0].status, results[0].error_code) == ("duplicate", None)


def test_parallel_verification_reports_what_sequential_does(tmp_path: Path, monkeypatch) -> None:
    from benchmarks.bench_ledger import _device_section

    lines = b"".join(_device_section((n, 30)) for n in range(5)).splitlines()
    for i in (70, 100):  # two tampered records in two device sections
        line = orjson.loads(lines[i])
        line["envelope"]["record"]["body"]["glucose_mg_dl"] = 1
        lines[i] = orjson.dumps(line)
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(ledger_verify, "_CHUNK_TARGET", 1000)
    assert len(ledger_verify._chunk_bounds(path, 8)) == 5
    parallel = ledger_verify.verify_export_file(path, workers=2)
    sequential = ledger_verify.verify_export_file(path, workers=1)
    assert parallel.failures == sequential.failures
    assert len(parallel.failures) == 2
    assert (parallel.devices, parallel.records) == (5, sequential.records)
