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
    "DeviceStore",
    "IssuedCredential",
    "LedgerStore",
    "authenticate_device",
    "ingest_batch",
    "ingest_batch_async",
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


class LedgerStore(Protocol):
    """Ingest and checkpoints, as these use cases need them."""

    def ingest(
        self,
        device_id: str,
        items: Sequence[SignedRecord | MedwardenError],
        *,
        received_at: datetime,
        window: timedelta,
        transport: str,
        signer: ReceiptSigner,
        follow_up: NewJob | None = None,
        credential_sha256: str | None = None,
    ) -> list[IngestResult]: ...

    async def ingest_async(
        self,
        device_id: str,
        items: Sequence[SignedRecord | MedwardenError],
        *,
        received_at: datetime,
        window: timedelta,
        transport: str,
        signer: ReceiptSigner,
        follow_up: NewJob | None = None,
        credential_sha256: str | None = None,
    ) -> list[IngestResult]: ...

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
    transaction (ingest -> commit -> acknowledge -> checks -> alerts).  With
    ``credential_sha256`` (HTTPS, authenticated from a cache) the transaction refuses the
    batch with :class:`AuthenticationError` unless that is still the device's credential
    and the device is active."""
    return ledger.ingest(
        device_id,
        _parsed(items),
        received_at=clock.now(),
        window=window,
        transport=transport,
        signer=signer,
        follow_up=check_job(device_id),
        credential_sha256=credential_sha256,
    )


async def ingest_batch_async(
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
    """:func:`ingest_batch` for an event loop (same checks, same transaction; the caller
    parses ``items`` on the loop, so it should keep this for small batches)."""
    return await ledger.ingest_async(
        device_id,
        _parsed(items),
        received_at=clock.now(),
        window=window,
        transport=transport,
        signer=signer,
        follow_up=check_job(device_id),
        credential_sha256=credential_sha256,
    )


def _parsed(items: Sequence[Any]) -> list[SignedRecord | MedwardenError]:
    if not items:
        raise UsageError("a batch needs at least one envelope")
    if len(items) > MAX_BATCH:
        raise InputTooLargeError(f"a batch carries at most {MAX_BATCH} envelopes, not {len(items)}")
    return parse_items(items)


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
