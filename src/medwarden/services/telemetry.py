"""Closed-loop backend use cases: register devices, manage their keys, ingest telemetry.

Both transports call :func:`ingest_batch` with the identity they authenticated (HTTPS:
the device's bearer credential; MQTT: the broker's per-device login and topic ACL).
Nothing is stored before that identity is known, every signature is verified before its
record is stored, and a result carries a receipt only once its transaction committed.

medwarden is a monitor: no use case here (or anywhere) sends anything to a device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from medwarden.core.clock import Clock
from medwarden.errors import (
    AuthenticationError,
    InputTooLargeError,
    MedwardenError,
    UsageError,
)
from medwarden.services.jobs import NewJob
from medwarden.services.telemetry_checks import check_job
from medwarden.telemetry.devices import (
    DeviceKey,
    DeviceRegistration,
    credential_digest,
    new_credential,
)
from medwarden.telemetry.envelope import SignedRecord
from medwarden.telemetry.ingest import parse_items
from medwarden.telemetry.ledger.checkpoint import Checkpoint
from medwarden.telemetry.receipts import IngestResult, ReceiptSigner

__all__ = [
    "DEFAULT_CLOCK_WINDOW",
    "MAX_BATCH",
    "DeviceBatch",
    "DeviceStore",
    "IssuedCredential",
    "LedgerStore",
    "authenticate_device",
    "device_batch",
    "ingest_batch",
    "issue_credential",
    "mqtt_port",
    "register_device",
    "sign_checkpoint",
]

MAX_BATCH = 1000
"""The most envelopes one batch (HTTPS request or MQTT message) may carry."""

DEFAULT_CLOCK_WINDOW = timedelta(minutes=10)
"""How far a device's clock may be from receipt time before a security event is recorded."""


class DeviceStore(Protocol):
    """The registry, as these use cases need it."""

    def register(
        self, reg: DeviceRegistration, *, credential_sha256: str, at: datetime, actor: str
    ) -> None: ...

    def set_credential(
        self, device_id: str, credential_sha256: str, *, at: datetime, actor: str
    ) -> None: ...

    def device_for_credential(self, credential_sha256: str) -> tuple[str, str] | None: ...

    def keys(self, device_id: str) -> list[DeviceKey]: ...


@dataclass(frozen=True, slots=True)
class DeviceBatch:
    """One authenticated device's parsed batch, as the ledger is asked to store it."""

    device_id: str
    items: Sequence[SignedRecord | MedwardenError]
    """The envelopes in order, each parsed or the error that refused it."""
    received_at: datetime
    window: timedelta
    """How far a record's device time may be from ``received_at`` (else a security event)."""
    transport: str
    signer: ReceiptSigner
    follow_up: NewJob | None = None
    """Queued in the same transaction if the batch stored anything (the device's checks)."""
    credential_sha256: str | None = None
    """When set, this must still be the device's credential and the device active, or the
    batch is refused with :class:`AuthenticationError` (checked in the transaction)."""


class LedgerStore(Protocol):
    """Ingest and checkpoints, as these use cases need them."""

    def ingest(self, batch: DeviceBatch) -> list[IngestResult]: ...

    async def ingest_async(self, batch: DeviceBatch) -> list[IngestResult]: ...

    def checkpoint(self, device_id: str, signer: ReceiptSigner, *, at: datetime) -> Checkpoint: ...


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """A device's HTTPS bearer credential, shown once and stored only as its SHA-256."""

    device_id: str
    secret: str


def register_device(
    devices: DeviceStore, reg: DeviceRegistration, *, clock: Clock, actor: str
) -> IssuedCredential:
    """Register a device and issue its first HTTPS credential."""
    secret, digest = new_credential()
    devices.register(reg, credential_sha256=digest, at=clock.now(), actor=actor)
    return IssuedCredential(reg.device_id, secret)


def issue_credential(
    devices: DeviceStore, device_id: str, *, clock: Clock, actor: str
) -> IssuedCredential:
    """Replace a device's HTTPS credential (the previous one stops working at once)."""
    secret, digest = new_credential()
    devices.set_credential(device_id, digest, at=clock.now(), actor=actor)
    return IssuedCredential(device_id, secret)


def authenticate_device(devices: DeviceStore, secret: str) -> str:
    """The device id a bearer credential belongs to; :class:`AuthenticationError` otherwise."""
    found = devices.device_for_credential(credential_digest(secret))
    if found is None or found[1] != "active":
        raise AuthenticationError("unknown or retired device credential")
    return found[0]


def device_batch(
    signer: ReceiptSigner,
    device_id: str,
    items: Sequence[Any],
    *,
    clock: Clock,
    transport: str,
    window: timedelta = DEFAULT_CLOCK_WINDOW,
    credential_sha256: str | None = None,
) -> DeviceBatch:
    """Check and parse one authenticated device's submitted envelopes into the batch the
    ledger stores (with the device's checks job as its follow-up).

    With ``credential_sha256`` (HTTPS, authenticated from a cache) the ingest transaction
    refuses the batch with :class:`AuthenticationError` unless that is still the device's
    credential and the device is active."""
    if not items:
        raise UsageError("a batch needs at least one envelope")
    if len(items) > MAX_BATCH:
        raise InputTooLargeError(f"a batch carries at most {MAX_BATCH} envelopes, not {len(items)}")
    return DeviceBatch(
        device_id,
        parse_items(items),
        clock.now(),
        window,
        transport,
        signer,
        follow_up=check_job(device_id),
        credential_sha256=credential_sha256,
    )


def ingest_batch(
    ledger: LedgerStore,
    signer: ReceiptSigner,
    device_id: str,
    items: Sequence[Any],
    *,
    clock: Clock,
    transport: str,
    window: timedelta = DEFAULT_CLOCK_WINDOW,
    credential_sha256: str | None = None,
) -> list[IngestResult]:
    """Verify and store one authenticated device's batch; one result per envelope.

    A batch that stores anything queues the device's early-warning checks in the same
    transaction (ingest -> commit -> acknowledge -> checks -> alerts).  An event loop
    builds the batch with :func:`device_batch` and awaits ``ledger.ingest_async``."""
    batch = device_batch(
        signer,
        device_id,
        items,
        clock=clock,
        transport=transport,
        window=window,
        credential_sha256=credential_sha256,
    )
    return ledger.ingest(batch)


def sign_checkpoint(
    ledger: LedgerStore, signer: ReceiptSigner, device_id: str, *, clock: Clock
) -> Checkpoint:
    """A signed tree head of the device's shard at its current size."""
    return ledger.checkpoint(device_id, signer, at=clock.now())


def mqtt_port(
    ledger: LedgerStore,
    signer: ReceiptSigner,
    *,
    clock: Clock,
    window: timedelta = DEFAULT_CLOCK_WINDOW,
) -> Callable[[str, Sequence[object]], list[IngestResult]]:
    """The ingest port of the MQTT subscriber: (authenticated device, envelopes) -> results."""

    def port(device_id: str, items: Sequence[object]) -> list[IngestResult]:
        return ingest_batch(
            ledger, signer, device_id, items, clock=clock, transport="mqtt", window=window
        )

    return port
