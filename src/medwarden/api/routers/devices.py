"""The device registry: register devices, issue credentials, manage keys, read events.

Writes need ``manage_portfolio``; reads need ``read``.  No route here (or anywhere) sends
anything to a device or changes its therapy settings: medwarden only monitors.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from medwarden.api.deps import ClockDep, StoreDep, require
from medwarden.api.schemas.devices import (
    CredentialOut,
    DeviceIn,
    DeviceOut,
    KeyIn,
    KeyOut,
    RevokeIn,
    SecurityEventOut,
)
from medwarden.auth.model import Permission, Principal
from medwarden.core.b64 import b64url_decode
from medwarden.core.clock import ensure_utc
from medwarden.errors import InputError
from medwarden.services.device_timeline import device_timeline
from medwarden.services.telemetry import issue_credential, register_device
from medwarden.telemetry.fhir import fhir_bundle_bytes
from medwarden.telemetry.timeline import timeline_to_json_bytes

__all__ = ["router"]

router = APIRouter(tags=["devices"])

DeviceId = Annotated[str, Path(min_length=1, max_length=128)]
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_PORTFOLIO))]
Reader = Annotated[Principal, Depends(require(Permission.READ))]


def _raw_key(text: str) -> bytes:
    try:
        data = b64url_decode(text)
    except ValueError:
        raise InputError("public_key is not base64url") from None
    if len(data) != 32:
        raise InputError(f"an Ed25519 public key is 32 bytes, not {len(data)}")
    return data


@router.post("/devices", status_code=201, response_model=CredentialOut, summary="Register a device")
def register(body: DeviceIn, principal: Manager, store: StoreDep, clock: ClockDep) -> CredentialOut:
    """Register a device; the answer holds its HTTPS credential, shown this once."""
    issued = register_device(store.devices, body.registration(), clock=clock, actor=principal.actor)
    return CredentialOut(device_id=issued.device_id, credential=issued.secret)


@router.get("/devices", response_model=list[DeviceOut], summary="List devices")
def list_devices(
    _: Reader,
    store: StoreDep,
    software_version: Annotated[str | None, Query(max_length=100)] = None,
    component: Annotated[
        str | None, Query(max_length=2000, description="Devices running this component identity")
    ] = None,
) -> list[DeviceOut]:
    """Every device, or those of one software version, or those running a component."""
    if component is not None:
        found = store.devices.running_component(component)
    else:
        found = store.devices.all(software_version=software_version)
    return [DeviceOut.of(d) for d in found]


@router.get("/devices/{device_id}", response_model=DeviceOut, summary="Show a device")
def show(device_id: DeviceId, _: Reader, store: StoreDep) -> DeviceOut:
    """One device's registration."""
    return DeviceOut.of(store.devices.get(device_id))


@router.post(
    "/devices/{device_id}/credential",
    response_model=CredentialOut,
    summary="Replace a device's HTTPS credential",
)
def new_credential(
    device_id: DeviceId, principal: Manager, store: StoreDep, clock: ClockDep
) -> CredentialOut:
    """Issue a new credential; the previous one stops working at once."""
    issued = issue_credential(store.devices, device_id, clock=clock, actor=principal.actor)
    return CredentialOut(device_id=issued.device_id, credential=issued.secret)


@router.get("/devices/{device_id}/keys", response_model=list[KeyOut], summary="List keys")
def keys(device_id: DeviceId, _: Reader, store: StoreDep) -> list[KeyOut]:
    """Every key of the device, oldest first."""
    return [KeyOut.of(k) for k in store.devices.keys(device_id)]


@router.post(
    "/devices/{device_id}/keys", status_code=201, response_model=KeyOut, summary="Enroll a key"
)
def enroll(
    device_id: DeviceId, body: KeyIn, principal: Manager, store: StoreDep, clock: ClockDep
) -> KeyOut:
    """Enroll the device's first key (use rotate once it has an active key)."""
    kid = store.devices.enroll_key(
        device_id, _raw_key(body.public_key), at=clock.now(), actor=principal.actor
    )
    return _key(store, device_id, kid)


@router.post("/devices/{device_id}/keys/rotate", response_model=KeyOut, summary="Rotate the key")
def rotate(
    device_id: DeviceId, body: KeyIn, principal: Manager, store: StoreDep, clock: ClockDep
) -> KeyOut:
    """Make a new key active; the old one verifies only records made before now."""
    kid = store.devices.rotate_key(
        device_id, _raw_key(body.public_key), at=clock.now(), actor=principal.actor
    )
    return _key(store, device_id, kid)


@router.post(
    "/devices/{device_id}/keys/{key_id}/revoke", response_model=KeyOut, summary="Revoke a key"
)
def revoke(
    device_id: DeviceId,
    key_id: Annotated[str, Path(min_length=16, max_length=16)],
    body: RevokeIn,
    principal: Manager,
    store: StoreDep,
    clock: ClockDep,
) -> KeyOut:
    """Revoke a key: nothing it signs is accepted from now on."""
    store.devices.revoke_key(
        device_id, key_id, at=clock.now(), actor=principal.actor, reason=body.reason
    )
    return _key(store, device_id, key_id)


def _key(store: StoreDep, device_id: str, kid: str) -> KeyOut:
    return next(KeyOut.of(k) for k in store.devices.keys(device_id) if k.key_id == kid)


@router.get(
    "/devices/{device_id}/events",
    response_model=list[SecurityEventOut],
    summary="Security events of a device",
)
def events(
    device_id: DeviceId,
    _: Reader,
    store: StoreDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SecurityEventOut]:
    """Rejected envelopes and chain findings of the device, oldest first after ``after``."""
    store.devices.get(device_id)
    return [
        SecurityEventOut(
            id=e["pk"],
            device_id=e["device_id"],
            kind=e["kind"],
            transport=e["transport"],
            boot_id=e["boot_id"],
            seq=e["seq"],
            record_hash=e["record_hash"],
            missing=None if e["missing_lo"] is None else [e["missing_lo"], e["missing_hi"]],
            detail=e["detail"],
            received_at=e["received_at"],
        )
        for e in store.ledger.events(device_id, after=after, limit=limit)
    ]


class TimelineFormat(StrEnum):
    """How a timeline is exported."""

    JSON = "json"
    FHIR = "fhir"


@router.get(
    "/devices/{device_id}/timeline",
    summary="Verified timeline of a device for a time window (JSON or FHIR R4 Bundle)",
    responses={200: {"content": {"application/json": {}, "application/fhir+json": {}}}},
)
def timeline(
    device_id: DeviceId,
    _: Reader,
    store: StoreDep,
    start: Annotated[datetime, Query(description="Window start (device time, inclusive).")],
    end: Annotated[datetime, Query(description="Window end (device time, exclusive).")],
    format: Annotated[TimelineFormat, Query()] = TimelineFormat.JSON,
) -> Response:
    """Sensor → decision → command → confirmation episodes, verified against the ledger."""
    built = device_timeline(
        store.devices, store.timeline, device_id, ensure_utc(start), ensure_utc(end)
    )
    if format is TimelineFormat.FHIR:
        return Response(fhir_bundle_bytes(built), media_type="application/fhir+json")
    return Response(timeline_to_json_bytes(built), media_type="application/json")
