"""Signed receipts: the backend's acknowledgement that a record is durably stored.

A receipt is issued only after the record's transaction committed.  It names the record
(device, boot, seq, hash), how it was classified, its position in the device's ledger shard
and the receipt time, and is signed by the server's Ed25519 receipt key over::

    b"medwarden-receipt-v1\\x00" || canonical_json(receipt_object_without_sig)

A retry of an acknowledged record is answered with the very same receipt (same bytes), so
a device can retry blindly.  :class:`IngestResult` is what both transports (HTTPS batch,
MQTT) return per submitted envelope.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from medwarden.core import ed25519
from medwarden.core.b64 import b64url_decode, b64url_encode
from medwarden.core.digests import canonical_json
from medwarden.errors import InputError, SignatureError
from medwarden.telemetry.records import JsonObject

__all__ = ["RECEIPT_PREFIX", "IngestResult", "Receipt", "ReceiptSigner", "sign_receipt"]

RECEIPT_PREFIX = b"medwarden-receipt-v1\x00"
_STATUSES = frozenset({"accepted", "duplicate", "rejected"})
_FIELDS = (
    "device_id",
    "boot_id",
    "seq",
    "record_hash",
    "outcome",
    "ledger_index",
    "received_at",
    "key_id",
)


def _b64(data: bytes) -> str:
    return b64url_encode(data)


def _unb64(text: str) -> bytes:
    try:
        return b64url_decode(text)
    except ValueError:
        raise InputError("receipt sig is not valid base64url") from None


@functools.lru_cache(maxsize=256)
def _receipt_time(value: datetime) -> str:
    """``received_at`` as receipts write it (one batch's receipts share their time)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Receipt:
    """A signed acknowledgement of one stored record."""

    device_id: str
    boot_id: str
    seq: int
    record_hash: str
    outcome: str
    ledger_index: int
    received_at: datetime
    key_id: str
    signature: bytes = b""
    _payload: JsonObject | None = field(default=None, init=False, repr=False, compare=False)

    def payload(self) -> JsonObject:
        """The signed fields as a JSON object (without ``sig``), built once."""
        cached = self._payload
        if cached is None:
            cached = self._build_payload()
            object.__setattr__(self, "_payload", cached)
        return dict(cached)

    def _build_payload(self) -> JsonObject:
        return {
            "device_id": self.device_id,
            "boot_id": self.boot_id,
            "seq": self.seq,
            "record_hash": self.record_hash,
            "outcome": self.outcome,
            "ledger_index": self.ledger_index,
            "received_at": _receipt_time(self.received_at),
            "key_id": self.key_id,
        }

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers."""
        return RECEIPT_PREFIX + canonical_json(self.payload())

    def to_json(self) -> JsonObject:
        """The receipt as a JSON object, signature included."""
        out = self.payload()
        out["sig"] = _b64(self.signature)
        return out

    @classmethod
    def from_json(cls, value: Any) -> Receipt:
        """Read a receipt written by :meth:`to_json` (form only; call :meth:`verify`)."""
        if not isinstance(value, dict) or set(value) != {*_FIELDS, "sig"}:
            raise InputError("a receipt needs exactly the fields " + ", ".join((*_FIELDS, "sig")))
        try:
            received = datetime.strptime(value["received_at"], "%Y-%m-%dT%H:%M:%S.%f%z")
            return cls(
                device_id=str(value["device_id"]),
                boot_id=str(value["boot_id"]),
                seq=int(value["seq"]),
                record_hash=str(value["record_hash"]),
                outcome=str(value["outcome"]),
                ledger_index=int(value["ledger_index"]),
                received_at=received.astimezone(UTC),
                key_id=str(value["key_id"]),
                signature=_unb64(str(value["sig"])),
            )
        except (TypeError, ValueError) as exc:
            raise InputError(f"malformed receipt: {exc}") from None

    def verify(self, public_key: Ed25519PublicKey | bytes) -> None:
        """Raise :class:`SignatureError` unless the server's key (an object or its 32 raw
        bytes) signed this receipt."""
        raw = public_key if isinstance(public_key, bytes) else public_key.public_bytes_raw()
        if not ed25519.verify(raw, self.signature, self.signed_bytes()):
            raise SignatureError(
                f"receipt for {self.device_id}/{self.boot_id}/{self.seq} does not verify"
            )


def sign_receipt(key: Ed25519PrivateKey | ed25519.FastSigner, unsigned: Receipt) -> Receipt:
    """Return ``unsigned`` with the server's signature."""
    sig = key.sign(unsigned.signed_bytes())
    signed = Receipt(  # positional, not dataclasses.replace: once per stored record
        unsigned.device_id,
        unsigned.boot_id,
        unsigned.seq,
        unsigned.record_hash,
        unsigned.outcome,
        unsigned.ledger_index,
        unsigned.received_at,
        unsigned.key_id,
        sig,
    )
    object.__setattr__(signed, "_payload", unsigned._payload)  # same fields: same payload
    return signed


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What ingest answers for one submitted envelope.

    ``status`` is ``accepted`` (stored now), ``duplicate`` (stored before: the original
    receipt) or ``rejected`` (not stored: ``error_code`` and ``detail`` say why, e.g.
    ``MW401`` for a bad signature, ``MW100`` for a malformed envelope).
    """

    index: int
    status: str
    receipt: Receipt | None = None
    error_code: str | None = None
    detail: str | None = None

    @classmethod
    def from_json(cls, value: Any) -> IngestResult:
        """Read one :meth:`to_json` object back (form only: verify receipts separately)."""
        if not isinstance(value, dict) or not {"index", "status"} <= set(value):
            raise InputError("an ingest result needs index and status")
        index, status = value["index"], value["status"]
        if not isinstance(index, int) or isinstance(index, bool) or status not in _STATUSES:
            raise InputError(f"malformed ingest result {index!r}/{status!r}")
        receipt = Receipt.from_json(value["receipt"]) if "receipt" in value else None
        error = value.get("error")
        if error is not None and not isinstance(error, dict):
            raise InputError("an ingest result's error must be an object")
        return cls(
            index=index,
            status=status,
            receipt=receipt,
            error_code=None if error is None else str(error.get("code")),
            detail=None if error is None or error.get("detail") is None else str(error["detail"]),
        )

    def to_json(self) -> JsonObject:
        """The per-envelope answer both transports send back."""
        out: JsonObject = {"index": self.index, "status": self.status}
        if self.receipt is not None:
            out["receipt"] = self.receipt.to_json()
        if self.error_code is not None:
            out["error"] = {"code": self.error_code, "detail": self.detail}
        return out


@dataclass(frozen=True, slots=True)
class ReceiptSigner:
    """The server's Ed25519 key for receipts and ledger checkpoints, and its id."""

    key: Ed25519PrivateKey
    key_id: str
    _fast: ed25519.FastSigner = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fast", ed25519.FastSigner(self.key))

    def sign(self, unsigned: Receipt) -> Receipt:
        """Sign a receipt with this key (its ``key_id`` set to this key's)."""
        if unsigned.key_id != self.key_id:
            unsigned = replace(unsigned, key_id=self.key_id)
        return sign_receipt(self._fast, unsigned)
