"""Device registry values and the key lifecycle rule, pure.

A device is registered once (model, serial, versions, controller, SBOM reference,
pseudonymous patient reference) and holds Ed25519 keys over its life:

* ``active`` -- the key the device signs with now (at most one per device);
* ``rotated`` -- replaced by a newer key at ``retired_at``; it still verifies records
  whose ``device_time`` is before ``retired_at`` (late retries of old records);
* ``revoked`` -- compromised or withdrawn at ``retired_at``: nothing it signed is accepted
  after that moment, whatever device time a record claims (a thief can backdate).

:func:`keys_for_record` applies that rule; :func:`key_id` names a key by its bytes.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from medwarden.errors import InputError
from medwarden.telemetry.records import DeviceRecord

__all__ = [
    "DeviceKey",
    "DeviceRegistration",
    "KeyState",
    "credential_digest",
    "key_id",
    "keys_for_record",
    "new_credential",
    "public_key_from_bytes",
    "public_key_to_bytes",
]

PUBLIC_KEY_BYTES = 32
CREDENTIAL_PREFIX = "mwd_"


def new_credential() -> tuple[str, str]:
    """A fresh HTTPS bearer credential for a device and its SHA-256 (what is stored)."""
    secret = CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
    return secret, credential_digest(secret)


def credential_digest(secret: str) -> str:
    """The SHA-256 (hex) a device credential is stored and looked up by."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class KeyState(StrEnum):
    """Where a device key is in its life."""

    ACTIVE = "active"
    ROTATED = "rotated"
    REVOKED = "revoked"


def public_key_to_bytes(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key (RFC 8032)."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_from_bytes(data: bytes) -> Ed25519PublicKey:
    """Read 32 raw bytes as an Ed25519 public key; :class:`InputError` otherwise."""
    if len(data) != PUBLIC_KEY_BYTES:
        raise InputError(f"an Ed25519 public key is {PUBLIC_KEY_BYTES} bytes, not {len(data)}")
    return Ed25519PublicKey.from_public_bytes(data)


def key_id(public_key: bytes) -> str:
    """A key's id: the first 16 hex digits of the SHA-256 of its raw bytes."""
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class DeviceKey:
    """One enrolled key of a device."""

    key_id: str
    public_key: bytes
    state: KeyState
    enrolled_at: datetime
    retired_at: datetime | None = None

    def verifies(self, record: DeviceRecord, received_at: datetime) -> bool:
        """Whether a signature by this key may be accepted for ``record`` received then."""
        if self.state is KeyState.ACTIVE:
            return True
        if self.retired_at is None:
            return False
        if self.state is KeyState.ROTATED:
            return record.device_time < self.retired_at
        return received_at < self.retired_at


def keys_for_record(
    keys: Iterable[DeviceKey], record: DeviceRecord, received_at: datetime
) -> list[DeviceKey]:
    """The keys a signature on ``record`` may be checked against, active key first."""
    usable = [k for k in keys if k.verifies(record, received_at)]
    return sorted(usable, key=lambda k: (k.state is not KeyState.ACTIVE, k.enrolled_at))


@dataclass(frozen=True, slots=True)
class DeviceRegistration:
    """What the registry knows of one device (no key material, no patient identity)."""

    device_id: str
    model: str
    serial: str
    software_version: str
    firmware_version: str | None = None
    controller_algorithm: str | None = None
    controller_version: str | None = None
    product: str | None = None
    """Slug of the product whose release this device runs (its SBOM)."""
    release: str | None = None
    patient_ref: str | None = None
    """A pseudonymous reference the manufacturer can resolve; never a name."""
    status: str = "active"
