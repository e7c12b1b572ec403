"""Telemetry ingest persistence, ledger proofs and signed checkpoints.

:meth:`SqlLedger.ingest` runs one write transaction per batch of one device: it locks the
device's ``device_chain`` row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` serialises writers), reads what
:func:`~medwarden.telemetry.ingest.plan_batch` needs in a few set-based queries, inserts
the accepted records, the interior nodes they complete and the security events, moves the
chain head and frontier, and commits.  Receipts are signed inside the transaction (their
signature is stored with the record, so a retry gets the same bytes) but handed out only
after the commit returned -- a record is never acknowledged before it is durable.

Proofs read stored nodes: a perfect subtree of ``2**l`` leaves starting at ``i * 2**l`` is
``ledger_node (level=l, idx=i)`` (or the record's ``leaf_hash`` for ``l = 0``), so an
inclusion or consistency proof costs O(log n) point reads whatever the shard size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, insert, select, tuple_, update

from medwarden.core.digests import canonical_json
from medwarden.errors import AuthenticationError, MedwardenError, NotFoundError
from medwarden.store._ledger_codec import (
    frontier_bytes,
    frontier_of,
    receipt_of_row,
    state_from_json,
    state_to_json,
)
from medwarden.store._ledger_export import export_device
from medwarden.store.device_repository import device_keys, device_pk_of
from medwarden.store.schema_telemetry import (
    device,
    device_chain,
    ledger_checkpoint,
    ledger_node,
    server_key,
    telemetry_event,
    telemetry_record,
)
from medwarden.telemetry.envelope import SignedRecord, record_to_json
from medwarden.telemetry.ingest import (
    AcceptedRecord,
    BatchContext,
    IngestPlan,
    SecurityEvent,
    plan_batch,
)
from medwarden.telemetry.ledger.checkpoint import Checkpoint
from medwarden.telemetry.ledger.merkle import (
    EMPTY_ROOT,
    consistency_proof_from,
    inclusion_proof_from,
    node_hash,
)
from medwarden.telemetry.receipts import IngestResult, Receipt, ReceiptSigner

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["SqlLedger"]


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


def _lock_head(conn: Connection, device_id: str) -> Any:
    query = (
        select(
            device.c.pk,
            device.c.status,
            device_chain.c.state_json,
            device_chain.c.ledger_size,
            device_chain.c.frontier,
        )
        .join(device_chain, device_chain.c.device_pk == device.c.pk)
        .where(device.c.device_id == device_id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=device_chain)
    return conn.execute(query).first()


def _stored(
    conn: Connection, device_pk: int, signed: Sequence[SignedRecord]
) -> tuple[dict[str, Any], dict[tuple[str, int], str], frozenset[str]]:
    """Stored rows the batch names, by hash and by (boot, seq), and the boots seen before."""
    if not signed:
        return {}, {}, frozenset()
    hashes = {s.hash for s in signed}
    slots = {(s.record.boot_id, s.record.seq) for s in signed}
    base = select(*_STORED_COLUMNS).where(telemetry_record.c.device_pk == device_pk)
    by_hash = {
        r.record_hash: r
        for r in conn.execute(base.where(telemetry_record.c.record_hash.in_(hashes)))
    }
    slot_rows = conn.execute(
        base.where(tuple_(telemetry_record.c.boot_id, telemetry_record.c.seq).in_(sorted(slots)))
    )
    by_slot = {(r.boot_id, int(r.seq)): r.record_hash for r in slot_rows}
    boots = {b for b, _ in slots}
    seen = conn.execute(
        select(telemetry_record.c.boot_id)
        .where(telemetry_record.c.device_pk == device_pk, telemetry_record.c.boot_id.in_(boots))
        .distinct()
    ).scalars()
    return by_hash, by_slot, frozenset(seen)


def _record_rows(
    device_pk: int,
    device_id: str,
    accepted: Iterable[AcceptedRecord],
    received_at: datetime,
    signer: ReceiptSigner,
) -> tuple[list[dict[str, Any]], dict[int, Receipt]]:
    rows: list[dict[str, Any]] = []
    receipts: dict[int, Receipt] = {}
    for a in accepted:
        rec = a.signed.record
        receipt = signer.sign(
            Receipt(
                device_id,
                rec.boot_id,
                rec.seq,
                a.record_hash,
                a.outcome.value,
                a.ledger_index,
                received_at,
                signer.key_id,
            )
        )
        receipts[a.index] = receipt
        rows.append(
            {
                "device_pk": device_pk,
                "ledger_index": a.ledger_index,
                "boot_id": rec.boot_id,
                "seq": rec.seq,
                "device_time": rec.device_time,
                "received_at": received_at,
                "record_type": rec.record_type.value,
                "record_hash": a.record_hash,
                "record_json": canonical_json(record_to_json(rec)).decode("utf-8"),
                "signature": a.signed.signature,
                "leaf_hash": a.leaf_hash,
                "key_id": a.key_id,
                "outcome": a.outcome.value,
                "receipt_sig": receipt.signature,
                "receipt_key_id": receipt.key_id,
            }
        )
    return rows, receipts


def _node_rows(device_pk: int, accepted: Iterable[AcceptedRecord]) -> list[dict[str, Any]]:
    rows = []
    for a in accepted:
        size = a.ledger_index + 1
        for level, digest in enumerate(a.nodes, start=1):
            rows.append(
                {"device_pk": device_pk, "level": level, "idx": (size >> level) - 1, "hash": digest}
            )
    return rows


def _event_rows(
    device_pk: int | None,
    device_id: str,
    events: Iterable[SecurityEvent],
    received_at: datetime,
    transport: str,
) -> list[dict[str, Any]]:
    return [
        {
            "device_pk": device_pk,
            "device_id": device_id,
            "kind": e.kind,
            "transport": transport,
            "boot_id": e.boot_id,
            "seq": e.seq,
            "record_hash": e.record_hash,
            "missing_lo": e.missing[0] if e.missing else None,
            "missing_hi": e.missing[1] if e.missing else None,
            "detail": e.detail[:2000],
            "received_at": received_at,
        }
        for e in events
    ]


def _results(count: int, plan: IngestPlan, receipts: dict[int, Receipt]) -> list[IngestResult]:
    out: list[IngestResult] = []
    rejected = {r.index: r for r in plan.rejected}
    for index in range(count):
        if index in receipts:
            out.append(IngestResult(index, "accepted", receipts[index]))
        elif index in plan.duplicates:
            out.append(IngestResult(index, "duplicate", _duplicate(plan, index, receipts)))
        else:
            r = rejected[index]
            out.append(IngestResult(index, "rejected", None, r.error_code, r.detail))
    return out


def _duplicate(plan: IngestPlan, index: int, receipts: dict[int, Receipt]) -> Receipt:
    original = plan.duplicates[index]
    if isinstance(original, AcceptedRecord):
        return receipts[original.index]
    return original


class SqlLedger:
    """Ingest, proofs and checkpoints over the telemetry tables."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def ingest(
        self,
        device_id: str,
        items: Sequence[SignedRecord | MedwardenError],
        *,
        received_at: datetime,
        window: timedelta,
        transport: str,
        signer: ReceiptSigner,
    ) -> list[IngestResult]:
        """Store what is acceptable of one device's batch; one result per item, in order."""
        with self._db.write("ingesting telemetry") as conn:
            head = _lock_head(conn, device_id)
            if head is None or head.status != "active":
                return self._refuse(conn, head, device_id, len(items), received_at, transport)
            device_pk = int(head.pk)
            signed = [i for i in items if isinstance(i, SignedRecord)]
            by_hash, by_slot, boots = _stored(conn, device_pk, signed)
            ctx = BatchContext(
                device_id=device_id,
                keys=device_keys(conn, device_pk),
                state=state_from_json(head.state_json),
                frontier=frontier_of(int(head.ledger_size), bytes(head.frontier)),
                stored_by_hash={
                    h: receipt_of_row(device_id, r._mapping) for h, r in by_hash.items()
                },
                stored_by_slot=by_slot,
                known_boots=boots,
                received_at=received_at,
                window=window,
            )
            plan = plan_batch(ctx, items)
            receipts = self._persist(
                conn, device_pk, device_id, plan, received_at, transport, signer
            )
        return _results(len(items), plan, receipts)

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
        rows, receipts = _record_rows(device_pk, device_id, plan.accepted, received_at, signer)
        if rows:
            conn.execute(insert(telemetry_record), rows)
            nodes = _node_rows(device_pk, plan.accepted)
            if nodes:
                conn.execute(insert(ledger_node), nodes)
            conn.execute(
                update(device_chain)
                .where(device_chain.c.device_pk == device_pk)
                .values(
                    state_json=state_to_json(plan.state),
                    ledger_size=plan.frontier.size,
                    frontier=frontier_bytes(plan.frontier),
                    last_received_at=received_at,
                    updated_at=received_at,
                )
            )
        events = _event_rows(device_pk, device_id, plan.events, received_at, transport)
        if events:
            conn.execute(insert(telemetry_event), events)
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
        rows = _event_rows(
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
            return inclusion_proof_from(_RangeReader(conn, pk), index, size)

    def consistency_proof(self, device_id: str, old_size: int, new_size: int) -> list[bytes]:
        """The proof that the shard of ``new_size`` leaves extends the one of ``old_size``."""
        with self._db.read("building a consistency proof") as conn:
            pk, current = self._size(conn, device_id)
            _check_within(new_size, current)
            return consistency_proof_from(_RangeReader(conn, pk), old_size, new_size)

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
            return _RangeReader(conn, pk)(0, size) if size else EMPTY_ROOT

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
        pk = device_pk_of(conn, device_id)
        size = conn.execute(
            select(device_chain.c.ledger_size).where(device_chain.c.device_pk == pk)
        ).scalar_one()
        return pk, int(size)

    # -- checkpoints ----------------------------------------------------------------------

    def register_server_key(self, key_id: str, public_key: bytes, *, at: datetime) -> None:
        """Record the public half of the server key (idempotent)."""
        with self._db.write("registering the ledger key") as conn:
            known = conn.execute(
                select(server_key.c.public_key).where(server_key.c.key_id == key_id)
            ).scalar()
            if known is None:
                conn.execute(
                    insert(server_key).values(key_id=key_id, public_key=public_key, created_at=at)
                )

    def server_keys(self) -> dict[str, bytes]:
        """Every registered server public key by id."""
        with self._db.read("reading ledger keys") as conn:
            return {r[0]: bytes(r[1]) for r in conn.execute(select(server_key))}

    def checkpoint(self, device_id: str, signer: ReceiptSigner, *, at: datetime) -> Checkpoint:
        """A signed head of the shard at its current size (the stored one if it exists)."""
        with self._db.write("signing a ledger checkpoint") as conn:
            pk = device_pk_of(conn, device_id)
            size, frontier = conn.execute(
                select(device_chain.c.ledger_size, device_chain.c.frontier).where(
                    device_chain.c.device_pk == pk
                )
            ).one()
            existing = (
                conn.execute(
                    select(ledger_checkpoint).where(
                        ledger_checkpoint.c.device_pk == pk, ledger_checkpoint.c.tree_size == size
                    )
                )
                .mappings()
                .first()
            )
            if existing is not None:
                return _checkpoint_of_row(device_id, existing)
            root = frontier_of(int(size), bytes(frontier)).root()
            cp = Checkpoint(device_id, int(size), root, at, signer.key_id).sign(signer.key)
            conn.execute(
                insert(ledger_checkpoint).values(
                    device_pk=pk,
                    tree_size=cp.tree_size,
                    root_hash=cp.root_hash,
                    timestamp=cp.timestamp,
                    key_id=cp.key_id,
                    signature=cp.signature,
                )
            )
            return cp

    def export(self, device_ids: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Export lines of each device's shard (one read snapshot per device)."""
        for device_id in device_ids:
            with self._db.read("exporting a ledger") as conn:
                yield from export_device(conn, device_id)

    def device_ids(self) -> list[str]:
        """Every registered device id, sorted."""
        with self._db.read("listing devices") as conn:
            return list(
                conn.execute(select(device.c.device_id).order_by(device.c.device_id)).scalars()
            )

    def checkpoints(self, device_id: str) -> list[Checkpoint]:
        """Every signed checkpoint of a shard, oldest first."""
        with self._db.read("reading ledger checkpoints") as conn:
            pk = device_pk_of(conn, device_id)
            rows = conn.execute(
                select(ledger_checkpoint)
                .where(ledger_checkpoint.c.device_pk == pk)
                .order_by(ledger_checkpoint.c.tree_size)
            ).mappings()
            return [_checkpoint_of_row(device_id, r) for r in rows]


def _checkpoint_of_row(device_id: str, row: Any) -> Checkpoint:
    return Checkpoint(
        device_id,
        int(row["tree_size"]),
        bytes(row["root_hash"]),
        row["timestamp"],
        row["key_id"],
        bytes(row["signature"]),
    )


def _check_within(size: int, current: int) -> None:
    if size > current:
        raise NotFoundError(f"the shard has {current} leaves, not {size}")


class _RangeReader:
    """``range_hash(start, end)`` over stored nodes (see the module docstring)."""

    def __init__(self, conn: Connection, device_pk: int) -> None:
        self._conn = conn
        self._pk = device_pk

    def perfect(self, start: int, width: int) -> bytes:
        level = width.bit_length() - 1
        if level == 0:
            value = self._conn.execute(
                select(telemetry_record.c.leaf_hash).where(
                    telemetry_record.c.device_pk == self._pk,
                    telemetry_record.c.ledger_index == start,
                )
            ).scalar_one()
        else:
            value = self._conn.execute(
                select(ledger_node.c.hash).where(
                    ledger_node.c.device_pk == self._pk,
                    ledger_node.c.level == level,
                    ledger_node.c.idx == start >> level,
                )
            ).scalar_one()
        return bytes(value)

    def __call__(self, start: int, end: int) -> bytes:
        # Split [start, end) into perfect subtrees, largest first, and fold right to left.
        parts: list[bytes] = []
        lo = start
        while lo < end:
            width = 1 << ((end - lo).bit_length() - 1)
            parts.append(self.perfect(lo, width))
            lo += width
        result = parts[-1]
        for left in reversed(parts[:-1]):
            result = node_hash(left, result)
        return result
