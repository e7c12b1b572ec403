"""Read a device's stored records for a time window, as the timeline needs them.

Every record read is re-checked against the ledger before the timeline sees it: its leaf
hash is recomputed from the stored canonical JSON and signature, and its inclusion proof
in the shard's current tree is verified against the current root (read from the stored
frontier); the proofs' nodes are read two queries per 200 records, never one per record.
``inclusion_verified`` is the result, so a row altered in the database shows up as
unverified (and as a chain break, since the timeline recomputes every hash).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select

from medwarden.errors import UsageError
from medwarden.store._ledger_codec import frontier_of
from medwarden.store._ledger_proofs import StoredRanges
from medwarden.store.device_repository import device_pk_of
from medwarden.store.schema_telemetry import device_chain, telemetry_event, telemetry_record
from medwarden.telemetry.envelope import DOMAIN_PREFIX, record_from_json
from medwarden.telemetry.ledger.checkpoint import record_leaf_hash
from medwarden.telemetry.ledger.merkle import inclusion_proof_from, verify_inclusion
from medwarden.telemetry.timeline import TimelineRecord

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["MAX_WINDOW_RECORDS", "SqlTimeline"]

MAX_WINDOW_RECORDS = 50_000
"""The most records one timeline window may hold (a day of a 5-minute loop is ~1,200)."""

_PROOF_CHUNK = 200
"""Records whose inclusion proofs are read together (two queries per chunk, not per record)."""


class SqlTimeline:
    """Stored records of a window, each verified against the device's ledger."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def window(self, device_id: str, start: datetime, end: datetime) -> list[TimelineRecord]:
        """Records with ``start <= device_time < end``, in ledger order, verified."""
        with self._db.read("reading a timeline window") as conn:
            pk = device_pk_of(conn, device_id)
            size, frontier = conn.execute(
                select(device_chain.c.ledger_size, device_chain.c.frontier).where(
                    device_chain.c.device_pk == pk
                )
            ).one()
            root = frontier_of(int(size), bytes(frontier)).root()
            rows = (
                conn.execute(
                    select(telemetry_record)
                    .where(
                        telemetry_record.c.device_pk == pk,
                        telemetry_record.c.device_time >= start,
                        telemetry_record.c.device_time < end,
                    )
                    .order_by(telemetry_record.c.ledger_index)
                    .limit(MAX_WINDOW_RECORDS + 1)
                )
                .mappings()
                .all()
            )
            if len(rows) > MAX_WINDOW_RECORDS:
                raise UsageError(
                    f"the window holds more than {MAX_WINDOW_RECORDS} records",
                    hint="ask for a shorter window",
                )
            out: list[TimelineRecord] = []
            for first in range(0, len(rows), _PROOF_CHUNK):
                chunk = [dict(row) for row in rows[first : first + _PROOF_CHUNK]]
                reader = StoredRanges(conn, pk)
                indexes = [int(row["ledger_index"]) for row in chunk]
                reader.prefetch(
                    lambda r, ids=indexes: [inclusion_proof_from(r, i, int(size)) for i in ids]
                )
                out += [self._verified(row, reader, int(size), root) for row in chunk]
            return out

    def security_events(
        self, device_id: str, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """Security events received in ``[start, end)`` that name a record of the device."""
        with self._db.read("reading security events of a window") as conn:
            pk = device_pk_of(conn, device_id)
            rows = conn.execute(
                select(telemetry_event)
                .where(
                    telemetry_event.c.device_pk == pk,
                    telemetry_event.c.record_hash.is_not(None),
                    telemetry_event.c.received_at >= start,
                    telemetry_event.c.received_at < end,
                )
                .order_by(telemetry_event.c.pk)
                .limit(MAX_WINDOW_RECORDS)
            ).mappings()
            return [dict(r) for r in rows]

    @staticmethod
    def _verified(
        row: Mapping[str, Any], reader: StoredRanges, size: int, root: bytes
    ) -> TimelineRecord:
        signature = bytes(row["signature"])
        index = int(row["ledger_index"])
        text = str(row["record_json"])
        content_hash = hashlib.sha256(DOMAIN_PREFIX + text.encode("utf-8")).hexdigest()
        leaf = record_leaf_hash(content_hash, signature)
        proof = inclusion_proof_from(reader, index, size)
        verified = leaf == bytes(row["leaf_hash"]) and verify_inclusion(
            leaf, index, size, proof, root
        )
        return TimelineRecord(
            record=record_from_json(orjson.loads(text)),
            record_hash=str(row["record_hash"]),
            ledger_index=index,
            received_at=row["received_at"],
            inclusion_verified=verified,
            signature=signature,
        )
