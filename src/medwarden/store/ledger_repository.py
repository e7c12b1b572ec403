"""Telemetry ingest persistence, ledger proofs and signed checkpoints.

:meth:`SqlLedger.ingest` stores device batches in write transactions shared by the
batches submitted concurrently in this process (group commit, :mod:`._group_commit`;
at most one batch per device in a transaction).  The transaction locks the devices'
``device_chain`` rows (``SELECT ... FOR UPDATE`` in key order on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` serialises writers), reads what
:func:`~medwarden.telemetry.ingest.plan_batch` needs in a few set-based queries, inserts
the accepted records, the interior nodes they complete and the security events, moves the
chain heads and frontiers, and commits (:mod:`._ledger_ingest`).  Receipts are signed
inside the transaction (their signature is stored with the record, so a retry gets the
same bytes) but handed out only after the commit returned -- a record is never
acknowledged before it is durable.  If a group's transaction fails, each of its batches
is retried in a transaction of its own, so a failing batch fails alone.

Device signatures are verified *before* the transaction (:func:`~medwarden.telemetry.ingest.
preverify`, with the device's keys as this process's last ingest transaction for the device
read them; the keys of devices not seen yet are read for the whole group in one query); inside
it the planner trusts such a result only if the key that verified it is still valid in the keys
read there, and verifies anything else itself, so a key revoked in between is never trusted.
Verification is the largest cost of ingest and this keeps it out of the device lock and
SQLite's single writer.  On SQLite, ingest writers queue on a thread lock and a ``flock``
beside the database (:class:`~._sqlite_gate.SqliteGate`) instead of SQLite's sleeping busy handler.
An acknowledged record survives a killed process and a power loss of the host alike -- a
device may discard what was acknowledged: PostgreSQL syncs its commits; on SQLite
(``synchronous=NORMAL``) the WAL file is flushed after each ingest commit, outside the write
lock, before the batches are answered (:mod:`._wal_sync`).

Proofs read stored nodes: a perfect subtree of ``2**l`` leaves starting at ``i * 2**l`` is
``ledger_node (level=l, idx=i)`` (or the record's ``leaf_hash`` for ``l = 0``), so an
inclusion or consistency proof costs O(log n) point reads whatever the shard size.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, select

from medwarden.errors import MedwardenError, NotFoundError, UsageError
from medwarden.services.telemetry import DeviceBatch
from medwarden.store._group_commit import GroupCommit
from medwarden.store._ledger_checkpoints import LedgerCheckpoints
from medwarden.store._ledger_codec import frontier_of
from medwarden.store._ledger_ingest import PendingBatch, ingest_group
from medwarden.store._ledger_proofs import StoredRanges
from medwarden.store._sqlite_gate import SqliteGate
from medwarden.store._wal_checkpointer import WalCheckpointer
from medwarden.store._wal_sync import WalSyncError, sync_wal
from medwarden.store.device_repository import device_keys_of, device_pk_of
from medwarden.store.schema_telemetry import device, device_chain, telemetry_event, telemetry_record
from medwarden.telemetry.devices import DeviceKey
from medwarden.telemetry.ingest import preverify
from medwarden.telemetry.ledger.merkle import (
    EMPTY_ROOT,
    consistency_proof_from,
    inclusion_proof_from,
)
from medwarden.telemetry.receipts import IngestResult

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["RecordInclusion", "SqlLedger"]


_KEY_CACHE = 10_000
"""Devices whose keys one process remembers for verifying outside the transaction."""

GROUP_RECORDS = 2_000
"""The most records one group-commit transaction takes (its first batch always fits)."""


_HEAD_OF = (
    select(device.c.pk, device_chain.c.ledger_size, device_chain.c.frontier)
    .join(device_chain, device_chain.c.device_pk == device.c.pk)
    .where(device.c.device_id == bindparam("device_id"))
)
_PKS_OF = select(device.c.device_id, device.c.pk).where(
    device.c.device_id.in_(bindparam("ids", expanding=True))
)
_LEAF_OF = select(telemetry_record.c.ledger_index, telemetry_record.c.leaf_hash).where(
    telemetry_record.c.device_pk == bindparam("pk"),
    telemetry_record.c.record_hash == bindparam("record_hash"),
)


@dataclass(frozen=True, slots=True)
class RecordInclusion:
    """What a client needs to check that a record is in a shard of ``tree_size`` leaves."""

    leaf_index: int
    leaf_hash: bytes
    tree_size: int
    root_hash: bytes
    audit_path: list[bytes]


class SqlLedger(LedgerCheckpoints):
    """Ingest, proofs and checkpoints over the telemetry tables."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._keys: dict[str, list[DeviceKey]] = {}
        self._keys_lock = threading.Lock()
        sqlite_file = database.dialect == "sqlite" and database.engine.url.database not in (
            None,
            "",
            ":memory:",
        )
        self._write_lock = (
            SqliteGate(database.engine.url.database) if database.dialect == "sqlite" else None
        )
        self._checkpointer = WalCheckpointer(database.engine) if sqlite_file else None
        self._wal_of = str(database.engine.url.database) if sqlite_file else None
        self._group: GroupCommit[PendingBatch] = GroupCommit(
            self._commit_group,
            key=lambda p: p.batch.device_id,
            size=lambda p: len(p.batch.items),
            max_size=GROUP_RECORDS,
        )

    def ingest(self, batch: DeviceBatch) -> list[IngestResult]:
        """Store what is acceptable of one device's batch; one result per item, in order.

        ``batch.follow_up`` (the device's checks job) is queued in the same transaction
        when the batch stored anything: checks can never miss a committed batch, and
        ingest pays no second write transaction for them.  With
        ``batch.credential_sha256`` the batch is refused (:class:`AuthenticationError`,
        nothing stored) unless that is still the device's credential when the
        transaction reads it.

        Signatures are verified first, outside the write transaction, with the device's
        keys as this process's last transaction for it read them (for devices not seen
        yet, one read for the group); inside it the planner trusts a result
        only if the key that verified it is still valid in the keys it reads there.  Batches
        submitted concurrently share one transaction (group commit); each is answered
        only after that transaction committed."""
        pending = PendingBatch(batch)
        self._group.submit(pending)
        return _outcome(pending)

    async def ingest_async(self, batch: DeviceBatch) -> list[IngestResult]:
        """:meth:`ingest` for an event loop: the batch joins the same groups, and the
        caller awaits its outcome without a thread of its own.

        The batch is committed (or refused) whether or not the awaiting task is
        cancelled: the answer of a request whose client went away is simply dropped."""
        pending = PendingBatch(batch)
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[BaseException | None] = loop.create_future()

        def done(error: BaseException | None) -> None:  # in the writer thread
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
                loop.call_soon_threadsafe(_settle, finished, error)

        self._group.enqueue(pending, done)
        error = await finished
        if error is not None:
            raise error
        return _outcome(pending)

    def _load_missing_keys(self, group: Sequence[PendingBatch]) -> None:
        """Read the keys of the group's devices this process has not seen yet, in one read
        (if it fails, their transaction verifies with the keys it reads itself)."""
        missing = sorted({p.batch.device_id for p in group} - self._keys.keys())
        if not missing:
            return
        with contextlib.suppress(MedwardenError), self._db.read("reading device keys") as conn:
            pks = {r.device_id: int(r.pk) for r in conn.execute(_PKS_OF, {"ids": missing})}
            keys = device_keys_of(conn, list(pks.values()))
            for device_id, pk in pks.items():
                self._remember_keys(device_id, keys[pk])

    def _remember_keys(self, device_id: str, keys: list[DeviceKey]) -> None:
        with self._keys_lock:  # ingest runs in many threads
            if len(self._keys) >= _KEY_CACHE and device_id not in self._keys:
                self._keys.pop(next(iter(self._keys)), None)
            self._keys[device_id] = keys

    def close(self) -> None:
        """Stop background work (the group-commit writer, after what is queued, and the
        WAL checkpointer); the store is closing."""
        self._group.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()

    def _commit_group(self, group: Sequence[PendingBatch]) -> None:
        """Verify the group's signatures, then run it in one transaction; if that fails,
        each batch in its own, so one failing batch fails alone.  Every batch leaves with
        results or an error.

        This runs in the group commit's writer thread, which verifies for the whole
        group: the threads that want the GIL are then this one and the event loop, not
        one per request -- so the writer is not starved of the GIL while it holds
        SQLite's write lock (measured with batches of 100: 9,380 records/s against 8,151
        with each request thread verifying its own batch; ``docs/benchmarks.md``)."""
        self._load_missing_keys(group)
        for pending in group:
            batch = pending.batch
            keys = self._keys.get(batch.device_id)
            if keys is not None:  # else the transaction verifies with the keys it reads
                pending.verified = preverify(batch.device_id, keys, batch.items, batch.received_at)
        if self._checkpointer is not None:
            self._checkpointer.start()
        try:
            self._transaction(group)
        except WalSyncError as exc:  # committed, maybe not on disk: acknowledge nothing
            for pending in group:
                _fail(pending, exc)
        except Exception as exc:  # handed to the batch(es) it concerns
            if len(group) == 1:
                _fail(group[0], exc)
                return
            for pending in group:
                try:
                    self._transaction([pending])
                except Exception as alone:
                    _fail(pending, alone)

    def _transaction(self, group: Sequence[PendingBatch]) -> None:
        for pending in group:
            pending.results, pending.error = None, None
        gate = self._write_lock or contextlib.nullcontext()
        with gate, self._db.write("ingesting telemetry") as conn:
            ingest_group(conn, group)
        if self._wal_of is not None:  # durable before anything is acknowledged
            sync_wal(self._wal_of)
        for pending in group:  # committed: results stand
            if pending.results is not None:
                self._remember_keys(pending.batch.device_id, pending.keys)

    # -- proofs -------------------------------------------------------------------------

    def tree_head(self, device_id: str) -> tuple[int, bytes]:
        """(size, root hash) of a device's shard now."""
        with self._db.read("reading a ledger head") as conn:
            head = _head(conn, device_id)
        size = int(head.ledger_size)
        return size, frontier_of(size, bytes(head.frontier)).root()

    def inclusion_proof(self, device_id: str, index: int, size: int) -> list[bytes]:
        """The audit path of leaf ``index`` in the shard's tree of ``size`` leaves."""
        with self._db.read("building an inclusion proof") as conn:
            head = _head(conn, device_id)
            _check_within(size, int(head.ledger_size))
            reader = StoredRanges(conn, int(head.pk))
            reader.prefetch(lambda r: inclusion_proof_from(r, index, size))
            return inclusion_proof_from(reader, index, size)

    def record_inclusion(
        self, device_id: str, record_hash: str, tree_size: int | None = None
    ) -> RecordInclusion:
        """A stored record's leaf, its audit path and the root it leads to, in the shard of
        ``tree_size`` leaves (default: its size now) -- read in one transaction."""
        with self._db.read("building an inclusion proof") as conn:
            head = _head(conn, device_id)
            pk, current = int(head.pk), int(head.ledger_size)
            leaf = conn.execute(_LEAF_OF, {"pk": pk, "record_hash": record_hash}).first()
            if leaf is None:
                raise NotFoundError(f"device {device_id!r} has no record {record_hash}")
            index = int(leaf.ledger_index)
            size = current if tree_size is None else tree_size
            _check_within(size, current)
            if index >= size:
                raise UsageError(f"record {record_hash} is leaf {index}, outside a tree of {size}")
            reader = StoredRanges(conn, pk)
            if size == current:  # the stored frontier roots the current tree
                reader.prefetch(lambda r: inclusion_proof_from(r, index, size))
                root = frontier_of(current, bytes(head.frontier)).root()
            else:
                reader.prefetch(lambda r: (inclusion_proof_from(r, index, size), r(0, size)))
                root = reader(0, size)
            path = inclusion_proof_from(reader, index, size)
        return RecordInclusion(index, bytes(leaf.leaf_hash), size, root, path)

    def consistency_proof(self, device_id: str, old_size: int, new_size: int) -> list[bytes]:
        """The proof that the shard of ``new_size`` leaves extends the one of ``old_size``."""
        with self._db.read("building a consistency proof") as conn:
            head = _head(conn, device_id)
            _check_within(new_size, int(head.ledger_size))
            reader = StoredRanges(conn, int(head.pk))
            reader.prefetch(lambda r: consistency_proof_from(r, old_size, new_size))
            return consistency_proof_from(reader, old_size, new_size)

    def leaf(self, device_id: str, record_hash: str) -> tuple[int, bytes]:
        """(ledger index, leaf hash) of a stored record of the device."""
        with self._db.read("finding a ledger leaf") as conn:
            pk = device_pk_of(conn, device_id)
            row = conn.execute(_LEAF_OF, {"pk": pk, "record_hash": record_hash}).first()
        if row is None:
            raise NotFoundError(f"device {device_id!r} has no record {record_hash}")
        return int(row[0]), bytes(row[1])

    def root_at(self, device_id: str, size: int) -> bytes:
        """The root hash of the shard when it had ``size`` leaves."""
        with self._db.read("reading a ledger root") as conn:
            head = _head(conn, device_id)
            current = int(head.ledger_size)
            _check_within(size, current)
            if not size:
                return EMPTY_ROOT
            if size == current:  # the stored frontier roots the current tree: no node reads
                return frontier_of(size, bytes(head.frontier)).root()
            reader = StoredRanges(conn, int(head.pk))
            reader.prefetch(lambda r: r(0, size))
            return reader(0, size)

    def events(
        self, device_id: str | None = None, *, after: int = 0, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Security events (all devices, or one), oldest first, keyset-paginated by id."""
        query = select(telemetry_event).where(telemetry_event.c.pk > after)
        if device_id is not None:
            query = query.where(telemetry_event.c.device_id == device_id)
        query = query.order_by(telemetry_event.c.pk).limit(limit)
        with self._db.read("listing security events") as conn:
            return [dict(r) for r in conn.execute(query).mappings()]


def _head(conn: Connection, device_id: str) -> Any:
    """(pk, ledger_size, frontier) of a device's shard, in one read."""
    head = conn.execute(_HEAD_OF, {"device_id": device_id}).first()
    if head is None:
        raise NotFoundError(f"there is no device {device_id!r}")
    return head


def _outcome(pending: PendingBatch) -> list[IngestResult]:
    if pending.error is not None:
        raise pending.error
    if pending.results is None:  # pragma: no cover - _commit_group always sets one
        raise RuntimeError("ingest group finished without an outcome")
    return pending.results


def _settle(finished: asyncio.Future[BaseException | None], error: BaseException | None) -> None:
    if not finished.done():
        finished.set_result(error)


def _fail(pending: PendingBatch, exc: BaseException) -> None:
    pending.results, pending.error = None, exc


def _check_within(size: int, current: int) -> None:
    if size > current:
        raise NotFoundError(f"the shard has {current} leaves, not {size}")
