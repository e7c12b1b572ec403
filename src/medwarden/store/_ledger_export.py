"""Stream a device's shard as export lines (see :mod:`medwarden.telemetry.ledger.export`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import Connection, select

from medwarden.core.b64 import b64url_encode
from medwarden.store._ledger_codec import checkpoint_of_row, receipt_of_row
from medwarden.store.device_repository import device_keys, device_pk_of
from medwarden.store.schema_telemetry import (
    device_chain,
    ledger_checkpoint,
    server_key,
    telemetry_record,
)
from medwarden.telemetry.ledger.export import checkpoint_line, header_line, record_line

__all__ = ["export_device"]

PAGE = 5000


def export_device(conn: Connection, device_id: str) -> Iterator[dict[str, Any]]:
    """Header, records in ledger order (paged by index), then checkpoints."""
    pk = device_pk_of(conn, device_id)
    size = int(
        conn.execute(
            select(device_chain.c.ledger_size).where(device_chain.c.device_pk == pk)
        ).scalar_one()
    )
    servers = {r[0]: bytes(r[1]) for r in conn.execute(select(server_key))}
    yield header_line(device_id, device_keys(conn, pk), servers, size)
    start = 0
    while start < size:
        rows = conn.execute(
            select(telemetry_record)
            .where(
                telemetry_record.c.device_pk == pk,
                telemetry_record.c.ledger_index >= start,
                telemetry_record.c.ledger_index < min(start + PAGE, size),
            )
            .order_by(telemetry_record.c.ledger_index)
        ).mappings()
        for row in rows:
            envelope = {
                "v": 1,
                "alg": "Ed25519",
                "record": orjson.loads(row["record_json"]),
                "sig": b64url_encode(bytes(row["signature"])),
            }
            yield record_line(
                int(row["ledger_index"]),
                row["received_at"],
                row["outcome"],
                row["key_id"],
                envelope,
                receipt_of_row(device_id, row).to_json(),
            )
        start += PAGE
    checkpoints = conn.execute(
        select(ledger_checkpoint)
        .where(ledger_checkpoint.c.device_pk == pk, ledger_checkpoint.c.tree_size <= size)
        .order_by(ledger_checkpoint.c.tree_size)
    ).mappings()
    for cp in checkpoints:
        yield checkpoint_line(checkpoint_of_row(device_id, cp))
