"""Signed checkpoints, server keys and exports of device shards (part of ``SqlLedger``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from medwarden.store._ledger_codec import checkpoint_of_row, frontier_of
from medwarden.store._ledger_export import export_device
from medwarden.store._ops import dialect_insert
from medwarden.store.device_repository import device_pk_of
from medwarden.store.schema_telemetry import device, device_chain, ledger_checkpoint, server_key
from medwarden.telemetry.ledger.checkpoint import Checkpoint
from medwarden.telemetry.receipts import ReceiptSigner

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["LedgerCheckpoints"]


class LedgerCheckpoints:
    """What auditors read and sign: checkpoints, the server keys, exports."""

    _db: Database

    def register_server_key(self, key_id: str, public_key: bytes, *, at: datetime) -> None:
        """Record the public half of the server key (idempotent, also when several server
        processes start at once: the insert yields to a row another one just wrote)."""
        with self._db.write("registering the ledger key") as conn:
            conn.execute(
                dialect_insert(conn, server_key)
                .values(key_id=key_id, public_key=public_key, created_at=at)
                .on_conflict_do_nothing(index_elements=[server_key.c.key_id])
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
                return checkpoint_of_row(device_id, existing)
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
            return [checkpoint_of_row(device_id, r) for r in rows]
