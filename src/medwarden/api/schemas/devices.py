"""Devices and their ledger: registration, keys, checkpoints, proofs, security events."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from medwarden.core.b64 import b64url_encode
from medwarden.telemetry.devices import DeviceKey, DeviceRegistration, KeyState
from medwarden.telemetry.ledger.checkpoint import Checkpoint

__all__ = [
    "CheckpointOut",
    "ConsistencyProofOut",
    "CredentialOut",
    "DeviceIn",
    "DeviceOut",
    "InclusionProofOut",
    "KeyIn",
    "KeyOut",
    "RevokeIn",
    "SecurityEventOut",
]

Ident = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")


def b64(data: bytes) -> str:
    """Unpadded base64url."""
    return b64url_encode(data)


class DeviceIn(BaseModel):
    """A device to register."""

    device_id: str = Ident
    model: str = Field(min_length=1, max_length=200)
    serial: str = Field(min_length=1, max_length=200)
    software_version: str = Field(min_length=1, max_length=100)
    firmware_version: str | None = Field(default=None, max_length=100)
    controller_algorithm: str | None = Field(default=None, max_length=100)
    controller_version: str | None = Field(default=None, max_length=100)
    product: str | None = Field(default=None, max_length=64)
    release: str | None = Field(default=None, max_length=200)
    patient_ref: str | None = Field(default=None, max_length=200)

    def registration(self) -> DeviceRegistration:
        """The domain value."""
        return DeviceRegistration(**self.model_dump())


class DeviceOut(BaseModel):
    """A registered device (never its credential)."""

    device_id: str
    model: str
    serial: str
    software_version: str
    firmware_version: str | None
    controller_algorithm: str | None
    controller_version: str | None
    product: str | None
    release: str | None
    patient_ref: str | None
    status: str

    @classmethod
    def of(cls, reg: DeviceRegistration) -> DeviceOut:
        """The DTO of a registration."""
        return cls(
            device_id=reg.device_id,
            model=reg.model,
            serial=reg.serial,
            software_version=reg.software_version,
            firmware_version=reg.firmware_version,
            controller_algorithm=reg.controller_algorithm,
            controller_version=reg.controller_version,
            product=reg.product,
            release=reg.release,
            patient_ref=reg.patient_ref,
            status=reg.status,
        )


class CredentialOut(BaseModel):
    """A device's HTTPS credential: shown once, stored only as its SHA-256."""

    device_id: str
    credential: str = Field(description="Send as Authorization: Bearer <credential>.")


class KeyIn(BaseModel):
    """An Ed25519 public key (32 raw bytes, base64url) to enroll or rotate to."""

    public_key: str = Field(min_length=43, max_length=44)


class KeyOut(BaseModel):
    """One key of a device."""

    key_id: str
    public_key: str
    state: KeyState
    enrolled_at: datetime
    retired_at: datetime | None

    @classmethod
    def of(cls, key: DeviceKey) -> KeyOut:
        """The DTO of a key."""
        return cls(
            key_id=key.key_id,
            public_key=b64(key.public_key),
            state=key.state,
            enrolled_at=key.enrolled_at,
            retired_at=key.retired_at,
        )


class RevokeIn(BaseModel):
    """Why a key is revoked."""

    reason: str = Field(min_length=1, max_length=2000)


class CheckpointOut(BaseModel):
    """A signed tree head of a device's ledger shard."""

    device_id: str
    tree_size: int
    root_hash: str
    timestamp: str
    key_id: str
    sig: str

    @classmethod
    def of(cls, cp: Checkpoint) -> CheckpointOut:
        """The DTO of a checkpoint (the signed fields, verbatim)."""
        return cls(**cp.to_json())


class InclusionProofOut(BaseModel):
    """An RFC 9162 inclusion proof of one record in a shard of ``tree_size`` leaves."""

    device_id: str
    record_hash: str
    leaf_index: int
    leaf_hash: str
    tree_size: int
    root_hash: str
    audit_path: list[str]


class ConsistencyProofOut(BaseModel):
    """An RFC 9162 consistency proof between two sizes of a shard."""

    device_id: str
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]


class SecurityEventOut(BaseModel):
    """A security event about a submitted envelope."""

    id: int
    device_id: str
    kind: str
    transport: str
    boot_id: str | None
    seq: int | None
    record_hash: str | None
    missing: list[int] | None
    detail: str
    received_at: datetime
