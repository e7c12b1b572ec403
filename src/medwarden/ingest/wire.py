"""MQTT topics and message formats for device batches and their receipts.

Topics (``{device_id}`` is the broker username of the device)::

    medwarden/v1/devices/{device_id}/records    device -> backend, QoS 1
    medwarden/v1/devices/{device_id}/receipts   backend -> device, QoS 1

A batch message is ``{"batch_id": "<1-64 printable characters>", "records": [envelope, ...]}``
with 1 to :data:`MAX_BATCH_RECORDS` envelopes in the wire form of
:mod:`medwarden.telemetry.envelope`; its size is checked before it is parsed.  The receipts
message is ``{"batch_id": ..., "results": [IngestResult.to_json(), ...]}``; ``batch_id`` is
``null`` when the batch was too malformed to read one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from medwarden.errors import InputError, InputTooLargeError
from medwarden.telemetry.receipts import IngestResult

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_RECORDS",
    "RECEIPTS_FILTER",
    "RECORDS_FILTER",
    "TOPIC_ROOT",
    "Batch",
    "batch_from_json",
    "batch_id_of",
    "check_device_id",
    "decode_batch",
    "decode_receipts",
    "device_id_from_topic",
    "encode_batch",
    "encode_receipts",
    "parse_payload",
    "receipts_topic",
    "records_topic",
    "result_from_json",
]

TOPIC_ROOT = "medwarden/v1/devices"
RECORDS_FILTER = f"{TOPIC_ROOT}/+/records"
"""What the backend's ingest user subscribes to."""
RECEIPTS_FILTER = f"{TOPIC_ROOT}/+/receipts"

MAX_BATCH_RECORDS = 1000
MAX_BATCH_BYTES = 4 * 1024 * 1024
"""Default limit of one batch message; larger payloads are refused unread (MW101)."""

DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
"""Device ids usable as broker usernames and topic levels (record ids without ``:``)."""

_BATCH_KEYS = frozenset({"batch_id", "records"})


def check_device_id(device_id: str) -> str:
    """Return ``device_id`` if it can be a broker username and topic level, else raise."""
    if not isinstance(device_id, str) or not DEVICE_ID.fullmatch(device_id):
        raise InputError(
            f"device id {device_id!r} cannot be used over MQTT",
            hint="1-128 characters: letters, digits and . _ @ - (not first), no ':'",
        )
    return device_id


def records_topic(device_id: str) -> str:
    """The topic ``device_id`` publishes its batches on."""
    return f"{TOPIC_ROOT}/{check_device_id(device_id)}/records"


def receipts_topic(device_id: str) -> str:
    """The topic the backend answers ``device_id`` on."""
    return f"{TOPIC_ROOT}/{check_device_id(device_id)}/receipts"


def device_id_from_topic(topic: str) -> str | None:
    """The device id of a records topic, or None for any other topic."""
    prefix, _, rest = topic.partition(f"{TOPIC_ROOT}/")
    device_id, sep, leaf = rest.partition("/")
    if prefix or sep != "/" or leaf != "records" or not DEVICE_ID.fullmatch(device_id):
        return None
    return device_id


@dataclass(frozen=True, slots=True)
class Batch:
    """A decoded batch frame: the client's id and the envelopes, still undecoded objects."""

    batch_id: str
    records: tuple[object, ...]


def parse_payload(payload: bytes, *, max_bytes: int = MAX_BATCH_BYTES) -> object:
    """Check the size of ``payload``, then parse it as JSON."""
    if len(payload) > max_bytes:
        raise InputTooLargeError(
            f"batch of {len(payload)} bytes exceeds the limit of {max_bytes}",
            hint="send fewer records per batch",
        )
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"batch is not well-formed JSON: {exc}") from None


def _check_batch_id(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not value.isprintable():
        raise InputError("batch_id must be text of 1 to 64 printable characters")
    return value


def batch_from_json(value: object, *, max_records: int = MAX_BATCH_RECORDS) -> Batch:
    """Check the shape of a parsed batch frame (envelopes are left to the ingest port)."""
    if not isinstance(value, Mapping) or set(value) != _BATCH_KEYS:
        raise InputError(
            "a batch must be a JSON object with exactly batch_id and records",
            hint='{"batch_id": "...", "records": [envelope, ...]}',
        )
    batch_id = _check_batch_id(value["batch_id"])
    records = value["records"]
    if not isinstance(records, list) or not records:
        raise InputError("batch records must be a non-empty JSON array of envelopes")
    if len(records) > max_records:
        raise InputTooLargeError(
            f"batch of {len(records)} records exceeds the limit of {max_records}"
        )
    return Batch(batch_id=batch_id, records=tuple(records))


def decode_batch(
    payload: bytes, *, max_bytes: int = MAX_BATCH_BYTES, max_records: int = MAX_BATCH_RECORDS
) -> Batch:
    """Size check, JSON parse and shape check of one batch message."""
    return batch_from_json(parse_payload(payload, max_bytes=max_bytes), max_records=max_records)


def batch_id_of(value: object) -> str | None:
    """The batch id of a frame that failed its checks, when one can be read; else None."""
    if isinstance(value, Mapping):
        try:
            return _check_batch_id(value.get("batch_id"))
        except InputError:
            return None
    return None


def encode_batch(batch_id: str, envelopes: Sequence[object]) -> bytes:
    """The batch message for ``envelopes`` (wire-form JSON objects)."""
    return orjson.dumps({"batch_id": _check_batch_id(batch_id), "records": list(envelopes)})


def encode_receipts(batch_id: str | None, results: Sequence[IngestResult]) -> bytes:
    """The receipts message answering one batch."""
    return orjson.dumps({"batch_id": batch_id, "results": [r.to_json() for r in results]})


def result_from_json(value: Any) -> IngestResult:
    """Read one :meth:`IngestResult.to_json` object back (receipts verified by the caller)."""
    return IngestResult.from_json(value)


def decode_receipts(payload: bytes) -> tuple[str | None, list[IngestResult]]:
    """Read a receipts message: its batch id and results."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"receipts message is not well-formed JSON: {exc}") from None
    if not isinstance(value, dict) or set(value) != {"batch_id", "results"}:
        raise InputError("a receipts message needs exactly batch_id and results")
    batch_id, results = value["batch_id"], value["results"]
    if batch_id is not None and not isinstance(batch_id, str):
        raise InputError("receipts batch_id must be text or null")
    if not isinstance(results, list):
        raise InputError("receipts results must be an array")
    return batch_id, [result_from_json(r) for r in results]
