"""Telemetry ingest persistence, ledger proofs and signed checkpoints.

:meth:`SqlLedger.ingest` runs one write transaction per batch of one device: it locks the
device's ``device_chain`` row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` serialises writers), reads what
:func:`~medwarden.telemetry.ingest.plan_batch` needs in a few set-based queries, inserts
the accepted records, the interior nodes they complete and the security events, moves the
chain head and frontier, and commits.  Receipts are signed inside the transaction (their
signature is stored with the record, so a retry gets the same bytes) but handed out only
after the commit returned -- a record is never acknowledged before it is durable.

Device signatures are verified *before* the transaction (:func:`~medwarden.telemetry.ingest.
preverify`, with the device's keys as this process last read them); inside it the planner
trusts such a result only if the key that verified it is still valid in the keys read
there, and verifies anything else itself, so a key revoked in between is never trusted.
Verification is the largest cost of ingest and this keeps it out of the device lock and
SQLite's single writer.  On SQLite, ingest writers queue on a thread lock and a ``flock``
beside the database (:class:`_SqliteGate`) instead of SQLite's sleeping busy handler.
Durability is the store's: WAL with ``synchronous=NORMAL`` on SQLite (a commit survives
the process being killed, SIGKILL included, but not a power loss of the host).

Proofs read stored nodes: a perfect subtree of ``2**l`` leaves starting at ``i * 2**l`` is
``ledger_node (level=l, idx=i)`` (or the record's ``leaf_hash`` for ``l = 0``), so an
inclusion or consistency proof costs O(log n) point reads whatever the shard size.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, and_, bindparam, insert, or_, select, update

from medwarden.errors import AuthenticationError, MedwardenError, NotFoundError
from medwarden.services.jobs import JobState, NewJob
from medwarden.store._ledger_checkpoints import LedgerCheckpoints
from medwarden.store._ledger_codec import (
    frontier_bytes,
    frontier_of,
    receipt_of_row,
    state_from_json,
    state_to_json,
)
from medwarden.store._ledger_proofs import StoredRanges
from medwarden.store._ledger_rows import event_rows, node_rows, record_rows, results
from medwarden.store.device_repository import device_pk_of
from medwarden.store.job_repository import enqueue_job
from medwarden.store.schema_ops import job
from medwarden.store.schema_telemetry import (
    device,
    device_chain,
    device_key,
    ledger_node,
    telemetry_event,
    telemetry_record,
)
from medwarden.telemetry.devices import DeviceKey, KeyState
from medwarden.telemetry.envelope import SignedRecord
from medwarden.telemetry.ingest import (
    BatchContext,
    IngestPlan,
    SecurityEvent,
    plan_batch,
    preverify,
)
from medwarden.telemetry.ledger.merkle import (
    EMPTY_ROOT,
    consistency_proof_from,
    inclusion_proof_from,
)
from medwarden.telemetry.receipts import IngestResult, Receipt, ReceiptSigner

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["SqlLedger"]


_KEY_CACHE = 10_000
"""Devices whose keys one process remembers for verifying outside the transaction."""

_STORED_COLUMNS = (
    telemetry_record.c.record_hash,
    telemetry_record.c.boot_id,
    telemetry_record.c.seq,
    telemetry_record.c.ledger_index,
    telemetry_record.c.received_at,
    telemetry_record.c.outcome,
    telemetry_record.c.receipt_sig,
    telemetry_record.c.receipt_key_id,
)


_HEAD = (
    select(
        device.c.pk,
        device.c.status,
        device_chain.c.state_json,
        device_chain.c.ledger_size,
        device_chain.c.frontier,
    )
    .join(device_chain, device_chain.c.device_pk == device.c.pk)
    .where(device.c.device_id == bindparam("device_id"))
)
_HEAD_FOR_UPDATE = _HEAD.with_for_update(of=device_chain)
# Statements of the ingest transaction are built once: building and cache-keying a new
# statement object costs more than executing it (measured: ~2.5 of 2.8 ms per
# single-record batch went to SQLAlchemy statement construction before).
_KEYS = select(device_key).where(device_key.c.device_pk == bindparam("device_pk"))
_BY_HASH_ONE_BOOT = select(*_STORED_COLUMNS).where(
    telemetry_record.c.device_pk == bindparam("device_pk"),
    or_(
        telemetry_record.c.record_hash.in_(bindparam("hashes", expanding=True)),
        and_(
            telemetry_record.c.boot_id == bindparam("boot"),
            telemetry_record.c.seq.in_(bindparam("seqs", expanding=True)),
        ),
    ),
)
_INSERT_RECORDS = insert(telemetry_record)
_INSERT_NODES = insert(ledger_node)
_INSERT_EVENTS = insert(telemetry_event)
_MOVE_HEAD = (
    update(device_chain)
    .where(device_chain.c.device_pk == bindparam("pk"))
    .values(
        state_json=bindparam("p_state", type_=device_chain.c.state_json.type),
        ledger_size=bindparam("p_size", type_=device_chain.c.ledger_size.type),
        frontier=bindparam("p_frontier", type_=device_chain.c.frontier.type),
        last_received_at=bindparam("p_at", type_=device_chain.c.last_received_at.type),
        updated_at=bindparam("p_at", type_=device_chain.c.updated_at.type),
    )
)


def _lock_head(conn: Connection, device_id: str) -> Any:
    query = _HEAD_FOR_UPDATE if conn.dialect.name == "postgresql" else _HEAD
    return conn.execute(query, {"device_id": device_id}).first()


def _device_keys(conn: Connection, device_pk: int) -> list[DeviceKey]:
    """:func:`device_keys` with a prebuilt statement."""
    return [
        DeviceKey(
            key_id=r.key_id,
            public_key=bytes(r.public_key),
            state=KeyState(r.state),
            enrolled_at=r.enrolled_at,
            retired_at=r.retired_at,
        )
        for r in conn.execute(_KEYS, {"device_pk": device_pk})
    ]


def _stored(
    conn: Connection, device_pk: int, signed: Sequence[SignedRecord], head_boot: str | None
) -> tuple[dict[str, Any], dict[tuple[str, int], str], frozenset[str]]:
    """Stored rows the batch names, by hash and by (boot, seq), and the boots seen before.

    One query finds the rows by hash or slot; the boots query runs only for boots other
    than the chain head's (the head's boot is known without asking)."""
    if not signed:
        return {}, {}, frozenset()
    hashes = {s.hash for s in signed}
    slots = {(s.record.boot_id, s.record.seq) for s in signed}
    seqs: dict[str, set[int]] = {}
    for boot, seq in slots:
        seqs.setdefault(boot, set()).add(seq)
    # (boot = ? AND seq IN (...)) per boot, not a row-value IN: SQLite answers a row-value
    # IN list with a scan of the device's rows, but ORed index terms with index searches.
    if len(seqs) == 1:
        ((boot, numbers),) = seqs.items()
        params = {"device_pk": device_pk, "hashes": sorted(hashes), "boot": boot}
        rows = conn.execute(_BY_HASH_ONE_BOOT, {**params, "seqs": sorted(numbers)}).all()
    else:
        rows = _by_hash_or_slot(conn, device_pk, hashes, seqs)
    return _found(conn, device_pk, rows, hashes, slots, head_boot)


def _by_hash_or_slot(
    conn: Connection, device_pk: int, hashes: set[str], seqs: dict[str, set[int]]
) -> list[Any]:
    return list(
        conn.execute(
            select(*_STORED_COLUMNS).where(
                telemetry_record.c.device_pk == device_pk,
                or_(
                    telemetry_record.c.record_hash.in_(hashes),
                    *(
                        and_(
                            telemetry_record.c.boot_id == boot,
                            telemetry_record.c.seq.in_(sorted(n)),
                        )
                        for boot, n in sorted(seqs.items())
                    ),
                ),
            )
        )
    )


def _found(
    conn: Connection,
    device_pk: int,
    rows: Sequence[Any],
    hashes: set[str],
    slots: set[tuple[str, int]],
    head_boot: str | None,
) -> tuple[dict[str, Any], dict[tuple[str, int], str], frozenset[str]]:
    by_hash = {r.record_hash: r for r in rows if r.record_hash in hashes}
    by_slot = {
        (r.boot_id, int(r.seq)): r.record_hash for r in rows if (r.boot_id, int(r.seq)) in slots
    }
    boots = {b for b, _ in slots} - {head_boot}
    if not boots:
        return by_hash, by_slot, frozenset()
    seen = conn.execute(
        select(telemetry_record.c.boot_id)
        .where(telemetry_record.c.device_pk == device_pk, telemetry_record.c.boot_id.in_(boots))
        .distinct()
    ).scalars()
    return by_hash, by_slot, frozenset(seen)


_QUEUED_JOB = (
    select(job.c.pk)
    .where(job.c.dedupe_key == bindparam("key"), job.c.state == JobState.QUEUED.value)
    .limit(1)
)


def _queue(conn: Connection, follow_up: NewJob, at: datetime) -> None:
    """Queue ``follow_up`` unless it is queued already (a prebuilt read, cheaper than the
    deduplicating insert, which matters on the single-record hot path)."""
    if conn.execute(_QUEUED_JOB, {"key": follow_up.dedupe_key}).first() is None:
        enqueue_job(conn, follow_up, at=at)


class _SqliteGate:
    """Queue SQLite ingest writers of this process and of other processes on one lock.

    SQLite has one writer; a writer that finds the database locked sleeps in its busy
    handler (1, 2, 5, ... up to 100 ms between tries) and loses to whoever comes next, so
    under load latency is set by those sleeps.  Here threads queue on a lock and processes
    (``serve --workers N``) on ``flock`` of a file beside the database, which hands over
    as soon as the holder commits."""

    def __init__(self, database: Database) -> None:
        self._thread_lock = threading.Lock()
        name = database.engine.url.database
        self._path = None if name in (None, "", ":memory:") else f"{name}-ingest.lock"
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        if self._path is None:
            return
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except OSError:  # cannot lock beside the database: SQLite's own locking still holds
            pass
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


class SqlLedger(LedgerCheckpoints):
    """Ingest, proofs and checkpoints over the telemetry tables."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._keys: dict[str, list[DeviceKey]] = {}
        self._keys_lock = threading.Lock()
        self._write_lock = _SqliteGate(database) if database.dialect == "sqlite" else None

    def ingest(
        self,
        device_id: str,
        items: Sequence[SignedRecord | MedwardenError],
        *,
        received_at: datetime,
        window: timedelta,
        transport: str,
        signer: ReceiptSigner,
        follow_up: NewJob | None = None,
    ) -> list[IngestResult]:
        """Store what is acceptable of one device's batch; one result per item, in order.

        ``follow_up`` (the device's checks job) is queued in the same transaction when the
        batch stored anything: checks can never miss a committed batch, and ingest pays
        no second write transaction for them.

        Signatures are verified first, outside the write transaction, with the device's
        keys as last seen (cached per process); inside it the planner trusts a result only
        if the key that verified it is still valid in the keys it reads there."""
        verified = preverify(device_id, self._cached_keys(device_id), items, received_at)
        if self._write_lock is None:
            return self._ingest(
                device_id, items, verified, received_at, window, transport, signer, follow_up
            )
        with self._write_lock:
            return self._ingest(
                device_id, items, verified, received_at, window, transport, signer, follow_up
            )

    def _cached_keys(self, device_id: str) -> list[DeviceKey]:
        keys = self._keys.get(device_id)
        if keys is None:
            with self._db.read("reading device keys") as conn:
                pk = conn.execute(
                    select(device.c.pk).where(device.c.device_id == device_id)
                ).scalar()
                keys = [] if pk is None else _device_keys(conn, int(pk))
            self._remember_keys(device_id, keys)
        return keys

    def _remember_keys(self, device_id: str, keys: list[DeviceKey]) -> None:
        with self._keys_lock:  # ingest runs in many threads
            if len(self._keys) >= _KEY_CACHE and device_id not in self._keys:
                self._keys.pop(next(iter(self._keys)), None)
            self._keys[device_id] = keys

    def _ingest(
        self,
        device_id: str,
        items: Sequence[SignedRecord | MedwardenError],
        verified: dict[int, tuple[str, bytes]],
        received_at: datetime,
        window: timedelta,
        transport: str,
        signer: ReceiptSigner,
        follow_up: NewJob | None,
    ) -> list[IngestResult]:
        with self._db.write("ingesting telemetry") as conn:
            head = _lock_head(conn, device_id)
            if head is None or head.status != "active":
                return self._refuse(conn, head, device_id, len(items), received_at, transport)
            device_pk = int(head.pk)
            state = state_from_json(head.state_json)
            signed = [i for i in items if isinstance(i, SignedRecord)]
            by_hash, by_slot, boots = _stored(
                conn, device_pk, signed, None if state is None else state.boot_id
            )
            keys = _device_keys(conn, device_pk)
            ctx = BatchContext(
                device_id=device_id,
                keys=keys,
                state=state,
                frontier=frontier_of(int(head.ledger_size), bytes(head.frontier)),
                stored_by_hash={
                    h: receipt_of_row(device_id, r._mapping) for h, r in by_hash.items()
                },
                stored_by_slot=by_slot,
                known_boots=boots,
                received_at=received_at,
                window=window,
                verified=verified,
            )
            plan = plan_batch(ctx, items)
            receipts = self._persist(
                conn, device_pk, device_id, plan, received_at, transport, signer
            )
            if follow_up is not None and plan.accepted:
                _queue(conn, follow_up, received_at)
        self._remember_keys(device_id, keys)
        return results(len(items), plan, receipts)

    def _persist(
        self,
        conn: Connection,
        device_pk: int,
        device_id: str,
        plan: IngestPlan,
        received_at: datetime,
        transport: str,
        signer: ReceiptSigner,
    ) -> dict[int, Receipt]:
        rows, receipts = record_rows(device_pk, device_id, plan.accepted, received_at, signer)
        if rows:
            conn.execute(_INSERT_RECORDS, rows)
            nodes = node_rows(device_pk, plan.accepted)
            if nodes:
                conn.execute(_INSERT_NODES, nodes)
            conn.execute(
                _MOVE_HEAD,
                {
                    "pk": device_pk,
                    "p_state": state_to_json(plan.state),
                    "p_size": plan.frontier.size,
                    "p_frontier": frontier_bytes(plan.frontier),
                    "p_at": received_at,
                },
            )
        events = event_rows(device_pk, device_id, plan.events, received_at, transport)
        if events:
            conn.execute(_INSERT_EVENTS, events)
        return receipts

    @staticmethod
    def _refuse(
        conn: Connection,
        head: Row[Any] | None,
        device_id: str,
        count: int,
        received_at: datetime,
        transport: str,
    ) -> list[IngestResult]:
        why = "is not registered" if head is None else "is retired"
        exc = AuthenticationError(f"device {device_id!r} {why}")
        event = SecurityEvent(
            "unknown_device" if head is None else "retired_device", 0, exc.message
        )
        rows = event_rows(
            None if head is None else int(head.pk), device_id, [event], received_at, transport
        )
        conn.execute(insert(telemetry_event), rows)
        return [IngestResult(i, "rejected", None, exc.code, exc.message) for i in range(count)]

    # -- proofs -------------------------------------------------------------------------

    def tree_head(self, device_id: str) -> tuple[int, bytes]:
        """(size, root hash) of a device's shard now."""
        with self._db.read("reading a ledger head") as conn:
            pk = device_pk_of(conn, device_id)
            row = conn.execute(
                select(device_chain.c.ledger_size, device_chain.c.frontier).where(
                    device_chain.c.device_pk == pk
                )
            ).one()
        return int(row[0]), frontier_of(int(row[0]), bytes(row[1])).root()

    def inclusion_proof(self, device_id: str, index: int, size: int) -> list[bytes]:
        """The audit path of leaf ``index`` in the shard's tree of ``size`` leaves."""
        with self._db.read("building an inclusion proof") as conn:
            pk, current = self._size(conn, device_id)
            _check_within(size, current)
            reader = StoredRanges(conn, pk)
            reader.prefetch(lambda r: inclusion_proof_from(r, index, size))
            return inclusion_proof_from(reader, index, size)

    def consistency_proof(self, device_id: str, old_size: int, new_size: int) -> list[bytes]:
        """The proof that the shard of ``new_size`` leaves extends the one of ``old_size``."""
        with self._db.read("building a consistency proof") as conn:
            pk, current = self._size(conn, device_id)
            _check_within(new_size, current)
            reader = StoredRanges(conn, pk)
            reader.prefetch(lambda r: consistency_proof_from(r, old_size, new_size))
            return consistency_proof_from(reader, old_size, new_size)

    def leaf(self, device_id: str, record_hash: str) -> tuple[int, bytes]:
        """(ledger index, leaf hash) of a stored record of the device."""
        with self._db.read("finding a ledger leaf") as conn:
            pk = device_pk_of(conn, device_id)
            row = conn.execute(
                select(telemetry_record.c.ledger_index, telemetry_record.c.leaf_hash).where(
                    telemetry_record.c.device_pk == pk,
                    telemetry_record.c.record_hash == record_hash,
                )
            ).first()
        if row is None:
            raise NotFoundError(f"device {device_id!r} has no record {record_hash}")
        return int(row[0]), bytes(row[1])

    def root_at(self, device_id: str, size: int) -> bytes:
        """The root hash of the shard when it had ``size`` leaves."""
        with self._db.read("reading a ledger root") as conn:
            pk, current = self._size(conn, device_id)
            _check_within(size, current)
            if not size:
                return EMPTY_ROOT
            if size == current:  # the stored frontier roots the current tree: no node reads
                frontier = conn.execute(
                    select(device_chain.c.ledger_size, device_chain.c.frontier).where(
                        device_chain.c.device_pk == pk
                    )
                ).one()
                if int(frontier[0]) == size:
                    return frontier_of(size, bytes(frontier[1])).root()
            reader = StoredRanges(conn, pk)
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

    @staticmethod
    def _size(conn: Connection, device_id: str) -> tuple[int, int]:
        row = conn.execute(
            select(device.c.pk, device_chain.c.ledger_size)
            .join(device_chain, device_chain.c.device_pk == device.c.pk)
            .where(device.c.device_id == device_id)
        ).first()
        if row is None:
            raise NotFoundError(f"there is no device {device_id!r}")
        return int(row[0]), int(row[1])


def _check_within(size: int, current: int) -> None:
    if size > current:
        raise NotFoundError(f"the shard has {current} leaves, not {size}")
