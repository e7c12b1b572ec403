"""One ingest transaction for a group of device batches (see :mod:`._group_commit`).

:func:`ingest_group` runs inside the caller's write transaction.  For the whole group it
reads the devices' chain heads (``FOR UPDATE``, in primary-key order, on PostgreSQL) and
keys in one query each; then, per batch, it reads the stored records the batch could
collide with, plans the batch (:func:`~medwarden.telemetry.ingest.plan_batch`) and signs
its receipts; finally it writes every batch's records, interior nodes, chain heads,
security events and check jobs in one statement each.  A group holds each device at
most once, so every batch's reads see the state its plan needs.

The collision read is skipped when no stored record can collide: a batch whose records
all lie past the chain head of the head's boot (the common case, a device sending in
order) names no stored (boot, seq) slot, and -- a record's hash covering its device, boot
and seq -- no stored hash either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, update

from medwarden.errors import AuthenticationError
from medwarden.services.jobs import JobState, NewJob
from medwarden.services.telemetry import DeviceBatch
from medwarden.store._ledger_codec import (
    frontier_bytes,
    frontier_of,
    receipt_of_row,
    state_from_json,
    state_to_json,
)
from medwarden.store._ledger_rows import event_rows, node_rows, record_rows, results
from medwarden.store.device_repository import device_keys_of
from medwarden.store.job_repository import enqueue_job
from medwarden.store.schema_ops import job
from medwarden.store.schema_telemetry import (
    device,
    device_chain,
    ledger_node,
    telemetry_event,
    telemetry_record,
)
from medwarden.telemetry.chain import ChainState
from medwarden.telemetry.devices import DeviceKey
from medwarden.telemetry.envelope import SignedRecord
from medwarden.telemetry.ingest import BatchContext, SecurityEvent, plan_batch
from medwarden.telemetry.receipts import IngestResult

__all__ = ["PendingBatch", "ingest_group"]


@dataclass(eq=False, slots=True)
class PendingBatch:
    """One device's batch waiting for its transaction, and then its outcome."""

    batch: DeviceBatch
    verified: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    """Signatures checked before the transaction (see :func:`~medwarden.telemetry.ingest.
    preverify`)."""
    results: list[IngestResult] | None = None
    error: BaseException | None = None
    keys: list[DeviceKey] = field(default_factory=list)
    """The device's keys as read in the transaction (for the caller's key cache)."""


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

# Statements are built once: building and cache-keying a statement object costs more
# than executing it on the single-record path.
_HEADS = (
    select(
        device.c.device_id,
        device.c.pk,
        device.c.status,
        device.c.credential_sha256,
        device_chain.c.state_json,
        device_chain.c.ledger_size,
        device_chain.c.frontier,
    )
    .join(device_chain, device_chain.c.device_pk == device.c.pk)
    .where(device.c.device_id.in_(bindparam("ids", expanding=True)))
    .order_by(device.c.pk)
)
_HEADS_FOR_UPDATE = _HEADS.with_for_update(of=device_chain)
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
_QUEUED_JOBS = select(job.c.dedupe_key).where(
    job.c.dedupe_key.in_(bindparam("keys", expanding=True)),
    job.c.state == JobState.QUEUED.value,
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


class _Writes:
    """Rows the group writes, gathered batch by batch and written once each."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.nodes: list[dict[str, Any]] = []
        self.heads: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.jobs: list[tuple[NewJob, datetime]] = []

    def flush(self, conn: Connection) -> None:
        if self.records:
            conn.execute(_INSERT_RECORDS, self.records)
        if self.nodes:
            conn.execute(_INSERT_NODES, self.nodes)
        if self.heads:
            conn.execute(_MOVE_HEAD, self.heads)
        if self.events:
            conn.execute(_INSERT_EVENTS, self.events)
        if self.jobs:
            # one read for the group instead of a deduplicating insert per batch: in steady
            # state each device's checks job is still queued
            keys = sorted({new.dedupe_key for new, _ in self.jobs if new.dedupe_key})
            queued = set(conn.execute(_QUEUED_JOBS, {"keys": keys}).scalars()) if keys else set()
            for new, at in self.jobs:
                if new.dedupe_key is None or new.dedupe_key not in queued:
                    enqueue_job(conn, new, at=at)


def _credential_refused(batch: DeviceBatch, head: Any) -> bool:
    """The batch names a credential that is not the device's now, or no active device."""
    if batch.credential_sha256 is None:
        return False
    return (
        head is None or head.status != "active" or batch.credential_sha256 != head.credential_sha256
    )


def ingest_group(conn: Connection, group: Sequence[PendingBatch]) -> None:
    """Plan and write every batch of ``group`` (distinct devices) in ``conn``'s transaction.

    Sets each batch's ``results`` (or ``error``, for a credential that is no longer the
    device's); they stand only if the transaction then commits."""
    ids = sorted({p.batch.device_id for p in group})
    query = _HEADS_FOR_UPDATE if conn.dialect.name == "postgresql" else _HEADS
    heads = {r.device_id: r for r in conn.execute(query, {"ids": ids})}
    keys = device_keys_of(conn, [int(h.pk) for h in heads.values()])
    writes = _Writes()
    for pending in group:
        head = heads.get(pending.batch.device_id)
        if _credential_refused(pending.batch, head):
            # as authentication would have answered had it read the registry now
            pending.error = AuthenticationError("unknown or retired device credential")
        elif head is None or head.status != "active":
            pending.results = _refuse(writes, head, pending.batch)
        else:
            pending.keys = keys[int(head.pk)]
            pending.results = _plan_and_stage(conn, writes, head, pending, pending.keys)
    writes.flush(conn)


def _plan_and_stage(
    conn: Connection,
    writes: _Writes,
    head: Any,
    pending: PendingBatch,
    keys: Sequence[DeviceKey],
) -> list[IngestResult]:
    batch, device_pk = pending.batch, int(head.pk)
    state = state_from_json(head.state_json)
    signed = [i for i in batch.items if isinstance(i, SignedRecord)]
    if _past_head(state, signed):
        by_hash: dict[str, Any] = {}
        by_slot: dict[tuple[str, int], str] = {}
        boots: frozenset[str] = frozenset()
    else:
        by_hash, by_slot, boots = _stored(
            conn, device_pk, signed, None if state is None else state.boot_id
        )
    ctx = BatchContext(
        device_id=batch.device_id,
        keys=keys,
        state=state,
        frontier=frontier_of(int(head.ledger_size), bytes(head.frontier)),
        stored_by_hash={h: receipt_of_row(batch.device_id, r._mapping) for h, r in by_hash.items()},
        stored_by_slot=by_slot,
        known_boots=boots,
        received_at=batch.received_at,
        window=batch.window,
        verified=pending.verified,
    )
    plan = plan_batch(ctx, batch.items)
    at = batch.received_at
    rows, receipts = record_rows(device_pk, batch.device_id, plan.accepted, at, batch.signer)
    if rows:
        writes.records.extend(rows)
        writes.nodes.extend(node_rows(device_pk, plan.accepted))
        writes.heads.append(
            {
                "pk": device_pk,
                "p_state": state_to_json(plan.state),
                "p_size": plan.frontier.size,
                "p_frontier": frontier_bytes(plan.frontier),
                "p_at": at,
            }
        )
        if batch.follow_up is not None:
            writes.jobs.append((batch.follow_up, at))
    writes.events.extend(event_rows(device_pk, batch.device_id, plan.events, at, batch.transport))
    return results(len(batch.items), plan, receipts)


def _past_head(state: ChainState | None, signed: Sequence[SignedRecord]) -> bool:
    """True when no stored record can share a slot or hash with any of ``signed``."""
    if state is None:  # nothing stored yet
        return True
    return all(s.record.boot_id == state.boot_id and s.record.seq > state.seq for s in signed)


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


def _refuse(writes: _Writes, head: Any, batch: DeviceBatch) -> list[IngestResult]:
    why = "is not registered" if head is None else "is retired"
    exc = AuthenticationError(f"device {batch.device_id!r} {why}")
    kind = "unknown_device" if head is None else "retired_device"
    event = SecurityEvent(kind, 0, exc.message)
    writes.events.extend(
        event_rows(
            None if head is None else int(head.pk),
            batch.device_id,
            [event],
            batch.received_at,
            batch.transport,
        )
    )
    count = len(batch.items)
    return [IngestResult(i, "rejected", None, exc.code, exc.message) for i in range(count)]
