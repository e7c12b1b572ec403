"""The ledger export format (JSON Lines, ``medwarden-ledger-export-v1``).

One export holds one or more device *sections*; each starts with a header line and is
followed by that device's records in ledger order and then its checkpoints::

    {"type": "device", "format": "medwarden-ledger-export-v1", "device_id": ...,
     "keys": [{"key_id", "public_key" (base64url), "state", "enrolled_at", "retired_at"}],
     "server_keys": {key_id: public_key (base64url)}, "tree_size": n}
    {"type": "record", "ledger_index": i, "received_at": ..., "outcome": ...,
     "key_id": ..., "envelope": {"v", "alg", "record", "sig"}, "receipt": {...}}
    {"type": "checkpoint", ...Checkpoint.to_json()...}

Everything a verifier needs is in the file, but the server keys it names should be
compared with keys obtained out of band (``medwarden ledger verify --server-key``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from medwarden.core.b64 import b64url_encode
from medwarden.telemetry.devices import DeviceKey
from medwarden.telemetry.ledger.checkpoint import Checkpoint
from medwarden.telemetry.records import JsonObject

__all__ = ["EXPORT_FORMAT", "checkpoint_line", "header_line", "record_line"]

EXPORT_FORMAT = "medwarden-ledger-export-v1"


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def header_line(
    device_id: str, keys: list[DeviceKey], server_keys: dict[str, bytes], tree_size: int
) -> JsonObject:
    """The line that opens a device's section."""
    return {
        "type": "device",
        "format": EXPORT_FORMAT,
        "device_id": device_id,
        "keys": [
            {
                "key_id": k.key_id,
                "public_key": b64url_encode(k.public_key),
                "state": k.state.value,
                "enrolled_at": _time(k.enrolled_at),
                "retired_at": _time(k.retired_at),
            }
            for k in keys
        ],
        "server_keys": {kid: b64url_encode(key) for kid, key in sorted(server_keys.items())},
        "tree_size": tree_size,
    }


def record_line(
    ledger_index: int,
    received_at: datetime,
    outcome: str,
    key_id: str,
    envelope: JsonObject,
    receipt: JsonObject,
) -> JsonObject:
    """One stored record."""
    return {
        "type": "record",
        "ledger_index": ledger_index,
        "received_at": _time(received_at),
        "outcome": outcome,
        "key_id": key_id,
        "envelope": envelope,
        "receipt": receipt,
    }


def checkpoint_line(cp: Checkpoint) -> dict[str, Any]:
    """One signed checkpoint."""
    return {"type": "checkpoint", **cp.to_json()}
