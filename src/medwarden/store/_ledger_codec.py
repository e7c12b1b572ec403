"""Row codecs of the telemetry tables: chain head, ledger frontier, stored receipts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from medwarden.telemetry.chain import ChainState, Gap
from medwarden.telemetry.ledger.checkpoint import Checkpoint
from medwarden.telemetry.ledger.merkle import HASH_SIZE, MerkleAccumulator
from medwarden.telemetry.receipts import Receipt

__all__ = [
    "checkpoint_of_row",
    "frontier_bytes",
    "frontier_of",
    "receipt_of_row",
    "state_from_json",
    "state_to_json",
]


def state_to_json(state: ChainState | None) -> str | None:
    """The chain head as JSON, without the caches the store answers itself (see ingest)."""
    if state is None:
        return None
    return orjson.dumps(
        {
            "device_id": state.device_id,
            "boot_id": state.boot_id,
            "seq": state.seq,
            "hash": state.hash,
            "device_time": state.device_time.isoformat(),
            "gaps": [[g.boot_id, g.lo, g.hi, g.before_hash, g.after_prev_hash] for g in state.gaps],
        }
    ).decode("utf-8")


def state_from_json(text: str | None) -> ChainState | None:
    """Read :func:`state_to_json` output (``boots`` holds the head's boot only)."""
    if text is None:
        return None
    value = orjson.loads(text)
    return ChainState(
        device_id=value["device_id"],
        boot_id=value["boot_id"],
        seq=int(value["seq"]),
        hash=value["hash"],
        device_time=datetime.fromisoformat(value["device_time"]),
        boots=frozenset({value["boot_id"]}),
        gaps=tuple(Gap(b, int(lo), int(hi), bh, ah) for b, lo, hi, bh, ah in value["gaps"]),
    )


def frontier_bytes(acc: MerkleAccumulator) -> bytes:
    """The compact range as the concatenation of its subtree roots."""
    return b"".join(acc.hashes)


def frontier_of(size: int, data: bytes) -> MerkleAccumulator:
    """Rebuild the accumulator of a shard from its stored size and frontier."""
    hashes = [bytes(data[i : i + HASH_SIZE]) for i in range(0, len(data), HASH_SIZE)]
    return MerkleAccumulator.restore(size, hashes)


def receipt_of_row(device_id: str, row: Mapping[Any, Any]) -> Receipt:
    """The receipt stored with a record row (byte-identical to the one first sent)."""
    return Receipt(
        device_id=device_id,
        boot_id=row["boot_id"],
        seq=int(row["seq"]),
        record_hash=row["record_hash"],
        outcome=row["outcome"],
        ledger_index=int(row["ledger_index"]),
        received_at=row["received_at"],
        key_id=row["receipt_key_id"],
        signature=bytes(row["receipt_sig"]),
    )


def checkpoint_of_row(device_id: str, row: Mapping[Any, Any]) -> Checkpoint:
    """The signed checkpoint a ``ledger_checkpoint`` row holds."""
    return Checkpoint(
        device_id,
        int(row["tree_size"]),
        bytes(row["root_hash"]),
        row["timestamp"],
        row["key_id"],
        bytes(row["signature"]),
    )
