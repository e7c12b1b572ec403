"""Telemetry ingest, ledger proofs and checkpoints on both backends."""

from __future__ import annotations

import base64
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert

from medwarden.core.clock import FixedClock
from medwarden.errors import AuthenticationError, NotFoundError, RuleViolationError, UsageError
from medwarden.services.telemetry import (
    authenticate_device,
    ingest_batch,
    register_device,
    sign_checkpoint,
)
from medwarden.store import SqlStore
from medwarden.store.schema_telemetry import server_key
from medwarden.telemetry.devices import (
    DeviceRegistration,
    KeyState,
    key_id,
    public_key_to_bytes,
)
from medwarden.telemetry.envelope import record_hash, sign_record
from medwarden.telemetry.ledger.checkpoint import record_leaf_hash
from medwarden.telemetry.ledger.merkle import (
    root_of_hashes,
    verify_consistency,
    verify_inclusion,
)
from medwarden.telemetry.receipts import ReceiptSigner
from medwarden.telemetry.records import GENESIS, DeviceRecord, RecordType
from tests.store.conftest import count_statements

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SERVER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
SIGNER = ReceiptSigner(SERVER, key_id(public_key_to_bytes(SERVER.public_key())))


def _record(seq: int, prev: str, *, boot: str = "b1", minutes: float | None = None) -> DeviceRecord:
    return DeviceRecord(
        device_id="pump-1",
        boot_id=boot,
        seq=seq,
        device_time=T0 + timedelta(minutes=5 * seq if minutes is None else minutes),
        prev_hash=prev,
        record_type=RecordType.SENSOR_READING,
        body={"glucose_mg_dl": 100 + seq},
    )


def _chain(n: int, key: Ed25519PrivateKey, *, start: int = 0, prev: str = GENESIS) -> list[dict]:
    out = []
    for seq in range(start, start + n):
        rec = _record(seq, prev)
        out.append(sign_record(key, rec).to_json())
        prev = record_hash(rec)
    return out


@pytest.fixture
def device_key(store: SqlStore) -> Ed25519PrivateKey:
    clock = FixedClock(T0)
    store.devices.set_model("pump-x", {}, at=T0, actor="test")
    register_device(
        store.devices,
        DeviceRegistration("pump-1", "pump-x", "SN1", "2.1.0", patient_ref="P-001"),
        clock=clock,
        actor="test",
    )
    key = Ed25519PrivateKey.generate()
    store.devices.enroll_key("pump-1", public_key_to_bytes(key.public_key()), at=T0, actor="t")
    return key


def _ingest(store: SqlStore, items: list, at: datetime = T0) -> list:
    return ingest_batch(
        store.ledger, SIGNER, "pump-1", items, clock=FixedClock(at), transport="https"
    )


def test_batch_is_stored_receipted_and_provable(
    store: SqlStore, device_key: Ed25519PrivateKey
) -> None:
    items = _chain(10, device_key)
    results = _ingest(store, items, T0 + timedelta(minutes=45))
    assert [r.status for r in results] == ["accepted"] * 10
    for i, r in enumerate(results):
        assert r.receipt is not None
        r.receipt.verify(SERVER.public_key())
        assert r.receipt.ledger_index == i
    size, root = store.ledger.tree_head("pump-1")
    assert size == 10
    leaves = [
        record_leaf_hash(r.receipt.record_hash, _sig(items[i]))
        for i, r in enumerate(results)
        if r.receipt is not None
    ]
    assert root == root_of_hashes(leaves)
    for index in range(10):
        for tree_size in range(index + 1, 11):
            proof = store.ledger.inclusion_proof("pump-1", index, tree_size)
            assert verify_inclusion(
                leaves[index], index, tree_size, proof, root_of_hashes(leaves[:tree_size])
            )
    for old in range(1, 10):
        proof = store.ledger.consistency_proof("pump-1", old, 10)
        assert verify_consistency(old, 10, root_of_hashes(leaves[:old]), root, proof)
    for index, r in enumerate(results):  # one read: leaf, path and root, current or past
        assert r.receipt is not None
        for tree_size in (None, *range(index + 1, 11)):
            found = store.ledger.record_inclusion("pump-1", r.receipt.record_hash, tree_size)
            size = 10 if tree_size is None else tree_size
            assert (found.leaf_index, found.leaf_hash, found.tree_size) == (
                index,
                leaves[index],
                size,
            )
            assert found.root_hash == root_of_hashes(leaves[:size])
            assert verify_inclusion(leaves[index], index, size, found.audit_path, found.root_hash)
    last = results[9].receipt
    assert last is not None
    with pytest.raises(UsageError, match="outside a tree of 5"):
        store.ledger.record_inclusion("pump-1", last.record_hash, 5)
    with pytest.raises(NotFoundError):
        store.ledger.record_inclusion("pump-1", last.record_hash, 11)
    with pytest.raises(NotFoundError):
        store.ledger.record_inclusion("pump-1", "0" * 64)
    with pytest.raises(NotFoundError):
        store.ledger.record_inclusion("pump-9", last.record_hash)


def _sig(envelope: dict) -> bytes:
    text = envelope["sig"]
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_retry_gets_the_same_receipt_and_stores_nothing_twice(
    store: SqlStore, device_key: Ed25519PrivateKey
) -> None:
    items = _chain(5, device_key)
    first = _ingest(store, items[:3])
    again = _ingest(store, items, T0 + timedelta(minutes=1))
    assert [r.status for r in again] == ["duplicate"] * 3 + ["accepted"] * 2
    assert [r.receipt for r in again[:3]] == [r.receipt for r in first]
    assert store.ledger.tree_head("pump-1")[0] == 5


def test_replay_bad_signature_and_foreign_device_are_rejected_and_recorded(
    store: SqlStore, device_key: Ed25519PrivateKey
) -> None:
    items = _chain(3, device_key)
    _ingest(store, items)
    conflicting = sign_record(
        device_key,
        replace(_record(1, record_hash(_record(0, GENESIS))), body={"glucose_mg_dl": 999}),
    ).to_json()
    forged = sign_record(
        Ed25519PrivateKey.generate(), _record(3, record_hash(_record(2, "0" * 64)))
    ).to_json()
    other = sign_record(device_key, replace(_record(3, GENESIS), device_id="pump-2")).to_json()
    results = _ingest(store, [conflicting, forged, other, {"v": 1}])
    assert [r.status for r in results] == ["rejected"] * 4
    assert [r.error_code for r in results] == ["MW402", "MW401", "MW502", "MW100"]
    assert store.ledger.tree_head("pump-1")[0] == 3


def test_revoked_key_is_refused_after_revocation(
    store: SqlStore, device_key: Ed25519PrivateKey
) -> None:
    items = _chain(4, device_key)
    _ingest(store, items[:2])
    kid = store.devices.keys("pump-1")[0].key_id
    store.devices.revoke_key(
        "pump-1", kid, at=T0 + timedelta(minutes=1), actor="psirt", reason="lost"
    )
    results = _ingest(store, items[2:], T0 + timedelta(minutes=2))
    assert [r.error_code for r in results] == ["MW401", "MW401"]
    assert "revoked" in (results[0].detail or "")


def test_rotation_keeps_old_records_valid(store: SqlStore, device_key: Ed25519PrivateKey) -> None:
    items = _chain(2, device_key)
    new_key = Ed25519PrivateKey.generate()
    store.devices.rotate_key(
        "pump-1", public_key_to_bytes(new_key.public_key()), at=T0 + timedelta(minutes=7), actor="t"
    )
    states = sorted(k.state for k in store.devices.keys("pump-1"))
    assert states == [KeyState.ACTIVE, KeyState.ROTATED]
    late_old = _ingest(store, items, T0 + timedelta(minutes=30))  # seq 1 at 08:05, before rotation
    assert [r.status for r in late_old] == ["accepted", "accepted"]
    prev = record_hash(_record(1, record_hash(_record(0, GENESIS))))
    by_old_after = sign_record(device_key, _record(2, prev)).to_json()  # 08:10, after rotation
    assert _ingest(store, [by_old_after], T0 + timedelta(minutes=31))[0].error_code == "MW401"
    by_new = sign_record(new_key, _record(2, prev)).to_json()
    assert _ingest(store, [by_new], T0 + timedelta(minutes=31))[0].status == "accepted"
    with pytest.raises(RuleViolationError):
        store.devices.enroll_key(
            "pump-1",
            public_key_to_bytes(Ed25519PrivateKey.generate().public_key()),
            at=T0,
            actor="t",
        )


def test_checkpoints_are_signed_and_reused(store: SqlStore, device_key: Ed25519PrivateKey) -> None:
    _ingest(store, _chain(3, device_key))
    cp = sign_checkpoint(store.ledger, SIGNER, "pump-1", clock=FixedClock(T0 + timedelta(hours=1)))
    cp.verify(SERVER.public_key())
    assert (cp.tree_size, cp.root_hash) == store.ledger.tree_head("pump-1")
    again = sign_checkpoint(
        store.ledger, SIGNER, "pump-1", clock=FixedClock(T0 + timedelta(hours=2))
    )
    assert again == cp
    assert store.ledger.checkpoints("pump-1") == [cp]


def test_unknown_device_and_credentials(store: SqlStore, device_key: Ed25519PrivateKey) -> None:
    results = ingest_batch(
        store.ledger, SIGNER, "ghost", _chain(1, device_key), clock=FixedClock(T0), transport="mqtt"
    )
    assert results[0].error_code == "MW501"
    with pytest.raises(AuthenticationError):
        authenticate_device(store.devices, "mwd_nope")
    with pytest.raises(NotFoundError):
        store.ledger.inclusion_proof("pump-1", 0, 1)


def test_a_late_copy_of_an_acknowledged_record_is_a_stale_duplicate(
    store: SqlStore, device_key: Ed25519PrivateKey
) -> None:
    items = _chain(2, device_key)
    first = _ingest(store, items)
    soon = _ingest(store, items[:1], T0 + timedelta(minutes=5))
    late = _ingest(store, items[:1], T0 + timedelta(hours=1))
    assert soon[0].receipt == late[0].receipt == first[0].receipt
    kinds = [e["kind"] for e in store.ledger.events("pump-1")]
    assert kinds == ["stale_duplicate"]


def test_a_timeline_window_costs_the_same_statements_at_any_length(
    store: SqlStore, device_key: Ed25519PrivateKey
) -> None:
    items = _chain(60, device_key)
    _ingest(store, items, T0 + timedelta(hours=6))
    counts = []
    for minutes in (20, 290):
        with count_statements(store) as seen:
            window = store.timeline.window("pump-1", T0, T0 + timedelta(minutes=minutes))
        assert all(r.inclusion_verified for r in window)
        counts.append((len(window), len(seen)))
    (few, few_statements), (many, many_statements) = counts
    assert (few, many) == (4, 58)
    assert few_statements == many_statements


def test_server_key_registration_yields_to_a_concurrent_one(store: SqlStore) -> None:
    """Server processes starting together register the same key: none fails.

    The row is written and left uncommitted on another connection first; registering
    then waits for it (PostgreSQL) or for the write lock (SQLite) and must not raise."""
    public = public_key_to_bytes(SERVER.public_key())
    engine = store.ledger._db.engine
    errors: list[BaseException] = []

    def register() -> None:
        try:
            store.ledger.register_server_key("k-race", public, at=T0)
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    with engine.connect() as other:
        other.execute(insert(server_key).values(key_id="k-race", public_key=public, created_at=T0))
        racer = threading.Thread(target=register)
        racer.start()
        racer.join(0.5)  # it is waiting for the uncommitted row (or the write lock)
        other.commit()
        racer.join(30)
    assert not racer.is_alive()
    assert errors == []
    store.ledger.register_server_key("k-race", public, at=T0)  # and again: idempotent
    assert store.ledger.server_keys()["k-race"] == public
