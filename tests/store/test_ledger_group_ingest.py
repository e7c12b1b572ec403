"""Group-commit ingest on both backends: many devices at once, failures, credentials."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, select

from medwarden.core.clock import FixedClock
from medwarden.errors import AuthenticationError
from medwarden.services.telemetry import (
    DeviceBatch,
    device_batch,
    ingest_batch,
    register_device,
)
from medwarden.services.telemetry_checks import check_job
from medwarden.store import SqlStore
from medwarden.store._ledger_ingest import PendingBatch, ingest_group
from medwarden.store.schema_ops import job
from medwarden.store.schema_telemetry import device, telemetry_record
from medwarden.telemetry.devices import DeviceRegistration, credential_digest, public_key_to_bytes
from medwarden.telemetry.envelope import record_hash, sign_record
from medwarden.telemetry.ingest import preverify
from medwarden.telemetry.receipts import IngestResult
from medwarden.telemetry.records import GENESIS, DeviceRecord, RecordType
from tests.store.conftest import count_statements
from tests.store.test_ledger_repository import SERVER, SIGNER, T0

AT = T0 + timedelta(minutes=2)
"""When every batch here is received (within the clock window of every record)."""


def _chain(device_id: str, key: Ed25519PrivateKey, n: int) -> list[dict[str, Any]]:
    out, prev = [], GENESIS
    for seq in range(n):
        rec = DeviceRecord(
            device_id=device_id,
            boot_id="b1",
            seq=seq,
            device_time=T0 + timedelta(seconds=10 * seq),
            prev_hash=prev,
            record_type=RecordType.SENSOR_READING,
            body={"glucose_mg_dl": 100 + seq},
        )
        out.append(sign_record(key, rec).to_json())
        prev = record_hash(rec)
    return out


def _register(
    store: SqlStore, device_ids: Sequence[str]
) -> dict[str, tuple[Ed25519PrivateKey, str]]:
    """Register and key each device; its signing key and credential secret by id."""
    store.devices.set_model("pump-x", {}, at=T0, actor="test")
    out = {}
    for n, device_id in enumerate(device_ids):
        issued = register_device(
            store.devices,
            DeviceRegistration(device_id, "pump-x", f"SN{n}", "2.1.0"),
            clock=FixedClock(T0),
            actor="test",
        )
        key = Ed25519PrivateKey.generate()
        pub = public_key_to_bytes(key.public_key())
        store.devices.enroll_key(device_id, pub, at=T0, actor="test")
        out[device_id] = (key, issued.secret)
    return out


def _batch(
    device_id: str, items: list[dict[str, Any]], credential_sha256: str | None = None
) -> DeviceBatch:
    return device_batch(
        SIGNER,
        device_id,
        items,
        clock=FixedClock(AT),
        transport="https",
        credential_sha256=credential_sha256,
    )


def _ingest(
    store: SqlStore,
    device_id: str,
    items: list[dict[str, Any]],
    credential_sha256: str | None = None,
) -> list[IngestResult]:
    return store.ledger.ingest(_batch(device_id, items, credential_sha256))


def _pending(device_id: str, items: list[dict[str, Any]]) -> PendingBatch:
    return PendingBatch(_batch(device_id, items))


def _ingest_async(
    store: SqlStore,
    device_id: str,
    items: list[dict[str, Any]],
    credential_sha256: str | None = None,
) -> Coroutine[Any, Any, list[IngestResult]]:
    return store.ledger.ingest_async(_batch(device_id, items, credential_sha256))


def _indexes(store: SqlStore, device_id: str) -> list[int]:
    with store.database.read("test") as conn:
        return list(
            conn.execute(
                select(telemetry_record.c.ledger_index)
                .join(device, device.c.pk == telemetry_record.c.device_pk)
                .where(device.c.device_id == device_id)
                .order_by(telemetry_record.c.ledger_index)
            ).scalars()
        )


def _jobs(store: SqlStore) -> Counter[tuple[str | None, str]]:
    with store.database.read("test") as conn:
        return Counter((r.dedupe_key, r.state) for r in conn.execute(select(job)))


def test_concurrent_devices_each_get_a_whole_ordered_ledger(store: SqlStore) -> None:
    ids = [f"dev-{n:02}" for n in range(12)]
    devices = _register(store, ids)
    chains = {d: _chain(d, key, 6) for d, (key, _) in devices.items()}
    start = threading.Barrier(len(ids))
    results: dict[str, list[IngestResult]] = {d: [] for d in ids}
    failures: list[BaseException] = []

    def send(device_id: str) -> None:
        try:
            start.wait(30)
            for item in chains[device_id]:  # batches of one
                results[device_id].extend(_ingest(store, device_id, [item]))
        except BaseException as exc:  # handed to the test
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(d,)) for d in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    for d in ids:
        assert [r.status for r in results[d]] == ["accepted"] * 6
        receipts = [r.receipt for r in results[d]]
        assert [r.ledger_index for r in receipts if r is not None] == list(range(6))
        for receipt in receipts:
            assert receipt is not None
            receipt.verify(SERVER.public_key())
        assert store.ledger.tree_head(d)[0] == 6
        assert _indexes(store, d) == list(range(6))
    assert _jobs(store) == Counter({(check_job(d).dedupe_key, "queued"): 1 for d in ids})
    assert store.ledger.events() == []


def test_a_failing_batch_fails_alone(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    devices = _register(store, ["good-1", "poison", "good-2"])
    groups: list[list[str]] = []

    def failing(conn: Connection, group: Sequence[PendingBatch]) -> None:
        groups.append([p.batch.device_id for p in group])
        ingest_group(conn, group)  # its writes must be rolled back with the group
        if any(p.batch.device_id == "poison" for p in group):
            raise RuntimeError("poisoned")

    monkeypatch.setattr("medwarden.store.ledger_repository.ingest_group", failing)
    batches = [_pending(d, _chain(d, key, 3)) for d, (key, _) in devices.items()]
    store.ledger._commit_group(batches)
    assert groups == [["good-1", "poison", "good-2"], ["good-1"], ["poison"], ["good-2"]]
    good_1, poison, good_2 = batches
    for good in (good_1, good_2):
        assert good.error is None
        assert [r.status for r in good.results or []] == ["accepted"] * 3
        assert store.ledger.tree_head(good.batch.device_id)[0] == 3
        assert _indexes(store, good.batch.device_id) == [0, 1, 2]
    assert isinstance(poison.error, RuntimeError)
    assert poison.results is None
    assert store.ledger.tree_head("poison")[0] == 0
    assert _indexes(store, "poison") == []
    assert _jobs(store) == Counter(
        {(check_job(d).dedupe_key, "queued"): 1 for d in ("good-1", "good-2")}
    )
    with pytest.raises(RuntimeError, match="poisoned"):  # ingest raises the batch's error
        _ingest(store, "poison", _chain("poison", devices["poison"][0], 3))
    assert store.ledger.tree_head("poison")[0] == 0


def test_the_credential_is_confirmed_in_the_transaction(store: SqlStore) -> None:
    devices = _register(store, ["pump-1"])
    key, secret = devices["pump-1"]
    items = _chain("pump-1", key, 4)
    right = credential_digest(secret)
    first = _ingest(store, "pump-1", items[:2], credential_sha256=right)
    assert [r.status for r in first] == ["accepted"] * 2
    wrong = credential_digest(secret + "x")
    with pytest.raises(AuthenticationError):
        _ingest(store, "pump-1", items[2:], credential_sha256=wrong)
    assert store.ledger.tree_head("pump-1")[0] == 2
    assert store.ledger.events() == []
    store.devices.retire("pump-1", at=AT, actor="test", reason="end of life")
    with pytest.raises(AuthenticationError):
        _ingest(store, "pump-1", items[2:], credential_sha256=right)
    assert store.ledger.tree_head("pump-1")[0] == 2
    assert _indexes(store, "pump-1") == [0, 1]


def _record_reads(statements: list[str]) -> list[str]:
    return [
        s for s in statements if s.lstrip().upper().startswith("SELECT") and "telemetry_record" in s
    ]


def test_the_collision_read_runs_only_for_batches_behind_the_head(store: SqlStore) -> None:
    key, _ = _register(store, ["pump-1"])["pump-1"]
    items = _chain("pump-1", key, 5)
    assert store.ledger._db.engine is store.database.engine  # what count_statements watches
    first = _ingest(store, "pump-1", items[:3])
    with count_statements(store) as in_order:
        assert [r.status for r in _ingest(store, "pump-1", items[3:])] == ["accepted"] * 2
    assert any("device_chain" in s for s in in_order)  # the listener saw the ingest
    assert _record_reads(in_order) == []
    with count_statements(store) as late:
        again = _ingest(store, "pump-1", items[1:2])
    assert len(_record_reads(late)) >= 1
    assert again[0].status == "duplicate"
    stored = first[1].receipt
    assert again[0].receipt == stored
    assert stored is not None
    assert again[0].receipt is not None
    assert again[0].receipt.signed_bytes() == stored.signed_bytes()
    assert again[0].receipt.signature == stored.signature
    assert store.ledger.tree_head("pump-1")[0] == 5


def test_awaited_and_blocking_batches_share_the_ledger_alike(store: SqlStore) -> None:
    ids = [f"dev-{n:02}" for n in range(8)]
    devices = _register(store, ids)
    chains = {d: _chain(d, key, 5) for d, (key, _) in devices.items()}
    threaded: list[IngestResult] = []

    def blocking() -> None:  # one device sends from a thread meanwhile
        for item in chains["dev-00"]:
            threaded.extend(_ingest(store, "dev-00", [item]))

    async def device_sends(device_id: str) -> list[IngestResult]:
        out: list[IngestResult] = []
        for item in chains[device_id]:
            out.extend(await _ingest_async(store, device_id, [item]))
        return out

    async def fleet() -> list[list[IngestResult]]:
        thread = asyncio.create_task(asyncio.to_thread(blocking))
        sent = await asyncio.gather(*(device_sends(d) for d in ids[1:]))
        await thread
        return list(sent)

    awaited = dict(zip(ids[1:], asyncio.run(fleet()), strict=True))
    awaited["dev-00"] = threaded
    for d in ids:
        assert [r.status for r in awaited[d]] == ["accepted"] * 5
        assert [r.receipt.ledger_index for r in awaited[d] if r.receipt] == list(range(5))
        assert _indexes(store, d) == list(range(5))
    again = asyncio.run(_ingest_async(store, "dev-03", chains["dev-03"]))
    assert [r.status for r in again] == ["duplicate"] * 5
    assert [r.receipt for r in again] == [r.receipt for r in awaited["dev-03"]]
    assert store.ledger.events() == []


def test_an_awaited_batch_is_refused_for_a_stale_credential_and_raises(store: SqlStore) -> None:
    key, secret = _register(store, ["pump-1"])["pump-1"]
    items = _chain("pump-1", key, 3)
    right, wrong = credential_digest(secret), credential_digest(secret + "x")
    assert asyncio.run(_ingest_async(store, "pump-1", items[:1], right))[0].status == "accepted"
    with pytest.raises(AuthenticationError):
        asyncio.run(_ingest_async(store, "pump-1", items[1:], wrong))
    assert store.ledger.tree_head("pump-1")[0] == 1


def test_a_cancelled_wait_still_commits_its_batch(store: SqlStore) -> None:
    key, _ = _register(store, ["pump-1"])["pump-1"]
    items = _chain("pump-1", key, 2)

    async def give_up() -> None:
        waiting = asyncio.create_task(_ingest_async(store, "pump-1", items))
        await asyncio.sleep(0)  # queued
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(give_up())
    results = _ingest(store, "pump-1", items)  # queued behind it: runs after it committed
    assert [r.status for r in results] == ["duplicate"] * 2
    assert store.ledger.tree_head("pump-1")[0] == 2


def test_active_credentials_list_active_devices_that_sent_most_recently_first(
    store: SqlStore,
) -> None:
    devices = _register(store, ["quiet", "early", "late", "retired"])
    for device_id, at in (("early", AT), ("late", AT + timedelta(minutes=1))):
        key, _ = devices[device_id]
        results = ingest_batch(
            store.ledger,
            SIGNER,
            device_id,
            _chain(device_id, key, 1),
            clock=FixedClock(at),
            transport="https",
        )
        assert results[0].status == "accepted"
    store.devices.retire("retired", at=AT, actor="test", reason="end of life")
    digest = {d: credential_digest(secret) for d, (_, secret) in devices.items()}
    listed = store.devices.active_credentials(10)
    assert listed == [
        (digest["late"], "late"),
        (digest["early"], "early"),
        (digest["quiet"], "quiet"),
    ]
    assert store.devices.active_credentials(2) == listed[:2]


def test_new_devices_are_verified_before_the_transaction_with_keys_read_once_per_group(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    devices = _register(store, ["new-1", "new-2", "new-3"])
    preverified: dict[str, int] = {}

    def spy(device_id: str, keys: Sequence[Any], *args: Any) -> dict[int, tuple[str, bytes]]:
        verified = preverify(device_id, keys, *args)
        preverified[device_id] = len(verified)
        return verified

    monkeypatch.setattr("medwarden.store.ledger_repository.preverify", spy)
    batches = [_pending(d, _chain(d, key, 2)) for d, (key, _) in devices.items()]
    with count_statements(store) as statements:
        store.ledger._commit_group(batches)
    assert preverified == {"new-1": 2, "new-2": 2, "new-3": 2}  # none left to the transaction
    key_reads = [
        s for s in statements if s.lstrip().upper().startswith("SELECT") and "device_key" in s
    ]
    assert len(key_reads) == 2  # one before the transaction, one in it -- not one per device
    for batch in batches:
        assert [r.status for r in batch.results or []] == ["accepted"] * 2
