"""Signed checkpoints (tree heads) of a device's ledger shard, and the leaf format.

Each device's accepted records form one RFC 6962 tree (a *shard*), in ledger order.  Leaf
``i`` is the record's chain hash followed by the device's signature::

    leaf_input = b"medwarden-leaf-v1\\x00" || sha256(canonical record bytes) || signature

so the ledger commits to what the device signed *and* to the signature.  A checkpoint is
the server's Ed25519 signature over::

    b"medwarden-checkpoint-v1\\x00" || canonical_json({"device_id", "tree_size",
                                                        "root_hash" (hex), "timestamp"})

It is what an auditor keeps: any later state of the shard must be consistent with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from medwarden.core.b64 import b64url_decode, b64url_encode
from medwarden.core.digests import canonical_json
from medwarden.errors import InputError, VerificationError
from medwarden.telemetry.ledger.merkle import leaf_hash
from medwarden.telemetry.records import JsonObject

__all__ = ["CHECKPOINT_PREFIX", "LEAF_PREFIX", "Checkpoint", "record_leaf_hash"]

LEAF_PREFIX = b"medwarden-leaf-v1\x00"
CHECKPOINT_PREFIX = b"medwarden-checkpoint-v1\x00"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def record_leaf_hash(record_hash: str, signature: bytes) -> bytes:
    """The leaf hash of a record in its device's shard."""
    return leaf_hash(LEAF_PREFIX + bytes.fromhex(record_hash) + signature)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed tree head of one device's shard."""

    device_id: str
    tree_size: int
    root_hash: bytes
    timestamp: datetime
    key_id: str
    signature: bytes = b""

    def payload(self) -> JsonObject:
        """The signed statement."""
        return {
            "device_id": self.device_id,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": self.timestamp.astimezone(UTC).strftime(_TIME_FORMAT),
        }

    def signed_bytes(self) -> bytes:
        """What the server's signature covers."""
        return CHECKPOINT_PREFIX + canonical_json(self.payload())

    def sign(self, key: Ed25519PrivateKey) -> Checkpoint:
        """This checkpoint signed with the server's ledger key."""
        return Checkpoint(
            self.device_id,
            self.tree_size,
            self.root_hash,
            self.timestamp,
            self.key_id,
            key.sign(self.signed_bytes()),
        )

    def verify(self, public_key: Ed25519PublicKey) -> None:
        """Raise :class:`VerificationError` unless the ledger key signed this checkpoint."""
        try:
            public_key.verify(self.signature, self.signed_bytes())
        except InvalidSignature:
            raise VerificationError(
                f"checkpoint of {self.device_id} at size {self.tree_size} is not signed "
                "by the ledger key",
                hint="the checkpoint was altered, or comes from another server",
            ) from None

    def to_json(self) -> JsonObject:
        """The checkpoint with its key id and signature (base64url)."""
        sig = b64url_encode(self.signature)
        return {**self.payload(), "key_id": self.key_id, "sig": sig}

    @classmethod
    def from_json(cls, value: Any) -> Checkpoint:
        """Read :meth:`to_json` output (form only; call :meth:`verify`)."""
        keys = {"device_id", "tree_size", "root_hash", "timestamp", "key_id", "sig"}
        if not isinstance(value, dict) or set(value) != keys:
            raise InputError("a checkpoint needs exactly the fields " + ", ".join(sorted(keys)))
        try:
            sig = str(value["sig"])
            stamp = datetime.strptime(str(value["timestamp"]), "%Y-%m-%dT%H:%M:%S.%f%z")
            root_hash = bytes.fromhex(str(value["root_hash"]))
            size = value["tree_size"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ValueError("tree_size must be a non-negative integer")
            if len(root_hash) != 32:
                raise ValueError("root_hash must be 32 bytes")
            return cls(
                device_id=str(value["device_id"]),
                tree_size=size,
                root_hash=root_hash,
                timestamp=stamp.astimezone(UTC),
                key_id=str(value["key_id"]),
                signature=b64url_decode(sig),
            )
        except ValueError as exc:
            raise InputError(f"malformed checkpoint: {exc}") from None
