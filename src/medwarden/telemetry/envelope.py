"""Signed envelopes: the canonical bytes a device signs, their hash, and the JSON wire form.

Canonical bytes (format ``medwarden-telemetry-v1``)::

    b"medwarden-telemetry-v1\\x00" || canonical_json(record_object)

where ``record_object`` is the JSON object

    {"body": {...}, "boot_id": str, "device_id": str,
     "device_time": "YYYY-MM-DDTHH:MM:SS.ffffffZ", "prev_hash": 64 hex,
     "record_type": str, "seq": int}

and :func:`medwarden.core.digests.canonical_json` writes compact JSON with object keys
sorted (RFC 8785 style: no whitespace, UTF-8, shortest round-trip numbers; keys are
ordered by code point, which equals RFC 8785's UTF-16 order for every key without
characters beyond U+FFFF).  The NUL-terminated prefix separates these signatures from
every other use of a device key (receipts, checkpoints).  ``device_time`` always carries
six fractional digits and ``Z`` so that the text is a function of the instant.

* :func:`record_hash` is the lowercase hex SHA-256 of the canonical bytes; it is what the
  next record's ``prev_hash`` names.
* The signature is Ed25519 (RFC 8032, pure) over the canonical bytes, 64 bytes, written
  base64url without padding.
* Wire form (one JSON object, unknown keys refused)::

      {"v": 1, "alg": "Ed25519", "record": record_object, "sig": "<base64url>"}

A signature that does not verify raises :class:`~medwarden.errors.SignatureError`
(MW401, a :class:`~medwarden.errors.VerificationError`); a malformed envelope raises
:class:`~medwarden.errors.InputError` (MW100) or
:class:`~medwarden.errors.InputTooLargeError` (MW101) and is never half-read.  Whether a
key is enrolled, rotated or revoked is the caller's business: pass only a key that is
valid for the device at receipt time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from medwarden.core import ed25519
from medwarden.core.b64 import b64url_decode, b64url_encode
from medwarden.core.digests import canonical_json, sha256_hex
from medwarden.errors import InputError, InputTooLargeError, SignatureError
from medwarden.telemetry.records import DeviceRecord, JsonObject, RecordType

__all__ = [
    "DOMAIN_PREFIX",
    "MAX_ENVELOPE_BYTES",
    "WIRE_VERSION",
    "SignedRecord",
    "canonical_bytes",
    "parse_envelope",
    "record_from_json",
    "record_hash",
    "record_to_json",
    "sign_record",
    "verify_envelope",
]

DOMAIN_PREFIX = b"medwarden-telemetry-v1\x00"
"""Domain separation for record signatures; never reused for any other signed object."""

WIRE_VERSION = 1
ALGORITHM = "Ed25519"
MAX_ENVELOPE_BYTES = 256 * 1024
"""A single envelope larger than this is refused unread."""

_SIGNATURE_LEN = 64
_RECORD_KEYS = frozenset(
    {"device_id", "boot_id", "seq", "device_time", "prev_hash", "record_type", "body"}
)
_ENVELOPE_KEYS = frozenset({"v", "alg", "record", "sig"})
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _format_time(value: datetime) -> str:
    # isoformat is C code without locale handling, ~10x faster than strftime; for the
    # years a record may carry (1970 onwards) both give YYYY-MM-DDTHH:MM:SS.ffffff.
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def record_to_json(record: DeviceRecord) -> JsonObject:
    """Return the record as the JSON object that is signed and sent."""
    return {
        "device_id": record.device_id,
        "boot_id": record.boot_id,
        "seq": record.seq,
        "device_time": _format_time(record.device_time),
        "prev_hash": record.prev_hash,
        "record_type": record.record_type.value,
        "body": record.body,
    }


def record_from_json(value: object) -> DeviceRecord:
    """Build a record from its JSON object, refusing missing, extra or mistyped fields."""
    if not isinstance(value, Mapping):
        raise InputError(f"a device record must be a JSON object, not {type(value).__name__}")
    keys = set(value)
    if keys != _RECORD_KEYS:
        missing = sorted(_RECORD_KEYS - keys)
        extra = sorted(str(k) for k in keys - _RECORD_KEYS)
        raise InputError(
            "device record fields do not match the format",
            details=tuple([f"missing: {k}" for k in missing] + [f"unexpected: {k}" for k in extra]),
        )
    time_text = value["device_time"]
    if not isinstance(time_text, str) or not _TIME.fullmatch(time_text):
        raise InputError(
            f"device_time must be written YYYY-MM-DDTHH:MM:SS.ffffffZ, not {time_text!r}"
        )
    try:
        # the pattern above admits exactly what fromisoformat reads as this strptime would
        device_time = datetime.fromisoformat(time_text[:-1]).replace(tzinfo=UTC)
    except ValueError:
        raise InputError(f"device_time {time_text!r} is not a valid instant") from None
    record_type = value["record_type"]
    if not isinstance(record_type, str) or record_type not in RecordType._value2member_map_:
        raise InputError(f"unknown record type {record_type!r}")
    return DeviceRecord(
        device_id=value["device_id"],
        boot_id=value["boot_id"],
        seq=value["seq"],
        device_time=device_time,
        prev_hash=value["prev_hash"],
        record_type=RecordType(record_type),
        body=value["body"],
    )


def canonical_bytes(record: DeviceRecord) -> bytes:
    """Return the bytes a device signs for ``record`` (see the module docstring)."""
    return DOMAIN_PREFIX + canonical_json(record_to_json(record))


def record_hash(record: DeviceRecord) -> str:
    """Return the hex SHA-256 of the record's canonical bytes (the chain link)."""
    return sha256_hex(canonical_bytes(record))


def _b64encode(data: bytes) -> str:
    return b64url_encode(data)


def _b64decode(text: str) -> bytes:
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise InputError("envelope sig is not base64url text (alphabet A-Z a-z 0-9 - _)")
    try:
        return b64url_decode(text)
    except ValueError:
        raise InputError("envelope sig is not valid base64url") from None


@dataclass(frozen=True, slots=True)
class SignedRecord:
    """A record with the device's Ed25519 signature over its canonical bytes."""

    record: DeviceRecord
    signature: bytes
    _canonical: bytes | None = field(default=None, init=False, repr=False, compare=False)
    _hash: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.record, DeviceRecord):
            raise InputError("a signed record needs a DeviceRecord")
        if not isinstance(self.signature, bytes) or len(self.signature) != _SIGNATURE_LEN:
            raise InputError(f"an Ed25519 signature is {_SIGNATURE_LEN} bytes")

    @property
    def canonical(self) -> bytes:
        """The record's canonical bytes (see :func:`canonical_bytes`), computed once."""
        data = self._canonical
        if data is None:
            data = canonical_bytes(self.record)
            object.__setattr__(self, "_canonical", data)
        return data

    @property
    def hash(self) -> str:
        """The record's chain hash (see :func:`record_hash`), computed once."""
        h = self._hash
        if h is None:
            h = sha256_hex(self.canonical)
            object.__setattr__(self, "_hash", h)
        return h

    def to_json(self) -> JsonObject:
        """Return the wire form as a JSON object."""
        return {
            "v": WIRE_VERSION,
            "alg": ALGORITHM,
            "record": record_to_json(self.record),
            "sig": _b64encode(self.signature),
        }

    def to_wire(self) -> bytes:
        """Return the wire form as compact, key-sorted JSON bytes."""
        return canonical_json(self.to_json())


def parse_envelope(data: bytes | str | Mapping[str, Any]) -> SignedRecord:
    """Read an envelope from JSON bytes/text or an already decoded object; validate strictly.

    This checks form only; call :func:`verify_envelope` with the device's key before
    trusting anything in it.
    """
    if isinstance(data, bytes | str):
        size = len(data.encode("utf-8") if isinstance(data, str) else data)
        if size > MAX_ENVELOPE_BYTES:
            raise InputTooLargeError(
                f"envelope of {size} bytes exceeds the limit of {MAX_ENVELOPE_BYTES}"
            )
        try:
            value: object = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"envelope is not well-formed JSON: {exc}") from None
    else:
        value = data
    if not isinstance(value, Mapping):
        raise InputError(f"an envelope must be a JSON object, not {type(value).__name__}")
    if set(value) != _ENVELOPE_KEYS:
        raise InputError(
            "envelope fields do not match the format",
            hint='expected exactly "v", "alg", "record" and "sig"',
        )
    if value["v"] != WIRE_VERSION or isinstance(value["v"], bool):
        raise InputError(f"unsupported envelope version {value['v']!r}")
    if value["alg"] != ALGORITHM:
        raise InputError(f"unsupported signature algorithm {value['alg']!r}")
    sig = value["sig"]
    if not isinstance(sig, str):
        raise InputError("envelope sig must be base64url text")
    signature = _b64decode(sig)
    if len(signature) != _SIGNATURE_LEN:
        raise InputError(f"an Ed25519 signature is {_SIGNATURE_LEN} bytes, not {len(signature)}")
    if _b64encode(signature) != sig:
        raise InputError("envelope sig is not in canonical base64url form")
    return SignedRecord(record=record_from_json(value["record"]), signature=signature)


def sign_record(private_key: Ed25519PrivateKey, record: DeviceRecord) -> SignedRecord:
    """Sign ``record``'s canonical bytes with the device key."""
    data = canonical_bytes(record)
    signed = SignedRecord(record=record, signature=private_key.sign(data))
    object.__setattr__(signed, "_canonical", data)
    return signed


def verify_envelope(public_key: Ed25519PublicKey | bytes, signed: SignedRecord) -> None:
    """Check the signature against ``public_key`` (an object or its 32 raw bytes); raise
    :class:`SignatureError` if it fails."""
    raw = public_key if isinstance(public_key, bytes) else public_key.public_bytes_raw()
    if not ed25519.verify(raw, signed.signature, signed.canonical):
        raise SignatureError(
            f"signature of record {signed.record.device_id}/{signed.record.boot_id}"
            f"/{signed.record.seq} does not verify",
            hint="the record was altered, or signed with another key than the device's",
        )
