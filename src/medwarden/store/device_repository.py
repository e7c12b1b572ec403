"""The device registry: models, devices, credentials and keys; every change audited.

Registry changes are rare and each appends an audit event in its own transaction
(``device.register``, ``device.key_enroll``, ``device.key_rotate``, ``device.key_revoke``,
``device.credential_issue``, ``device.retire``, ``device_model.set``).  Telemetry ingest
reads keys through :func:`device_keys` inside its own transaction and never audits (its
evidence is the ledger).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, bindparam, select, update

from medwarden.audit.model import EventDraft
from medwarden.errors import ConflictError, NotFoundError, RuleViolationError
from medwarden.store._ops import dialect_insert, from_json, to_json
from medwarden.store._release_lookup import product_and_release
from medwarden.store.audit_repository import append_event
from medwarden.store.schema_portfolio import (
    component,
    product,
    release,
    revision_component,
)
from medwarden.store.schema_telemetry import device, device_chain, device_key, device_model
from medwarden.telemetry.devices import DeviceKey, DeviceRegistration, KeyState, key_id

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["SqlDevices", "device_keys", "device_pk_of"]


def device_pk_of(conn: Connection, device_id: str) -> int:
    """The primary key of ``device_id``; :class:`NotFoundError` if it is not registered."""
    pk = conn.execute(select(device.c.pk).where(device.c.device_id == device_id)).scalar()
    if pk is None:
        raise NotFoundError(f"there is no device {device_id!r}")
    return int(pk)


_KEYS_OF = select(device_key).where(device_key.c.device_pk.in_(bindparam("pks", expanding=True)))


def device_keys_of(conn: Connection, device_pks: Sequence[int]) -> dict[int, list[DeviceKey]]:
    """Every key ever enrolled for each device, by device primary key (one query)."""
    out: dict[int, list[DeviceKey]] = {pk: [] for pk in device_pks}
    for r in conn.execute(_KEYS_OF, {"pks": list(device_pks)}):
        out[int(r.device_pk)].append(
            DeviceKey(
                key_id=r.key_id,
                public_key=bytes(r.public_key),
                state=KeyState(r.state),
                enrolled_at=r.enrolled_at,
                retired_at=r.retired_at,
            )
        )
    return out


def device_keys(conn: Connection, device_pk: int) -> list[DeviceKey]:
    """Every key ever enrolled for a device."""
    return device_keys_of(conn, [device_pk])[device_pk]


def _registration(row: Mapping[Any, Any]) -> DeviceRegistration:
    return DeviceRegistration(
        device_id=row["device_id"],
        model=row["model"],
        serial=row["serial"],
        software_version=row["software_version"],
        firmware_version=row["firmware_version"],
        controller_algorithm=row["controller_algorithm"],
        controller_version=row["controller_version"],
        product=row["product"],
        release=row["release"],
        patient_ref=row["patient_ref"],
        status=row["status"],
    )


def _registry_query() -> Any:
    return (
        select(
            device,
            device_model.c.name.label("model"),
            product.c.slug.label("product"),
            release.c.version.label("release"),
        )
        .join(device_model, device_model.c.pk == device.c.model_pk)
        .outerjoin(release, release.c.pk == device.c.release_pk)
        .outerjoin(product, product.c.pk == release.c.product_pk)
    )


def _public(reg: DeviceRegistration) -> dict[str, Any]:
    return {
        "model": reg.model,
        "serial": reg.serial,
        "software_version": reg.software_version,
        "firmware_version": reg.firmware_version,
        "controller": [reg.controller_algorithm, reg.controller_version],
        "release": None if reg.product is None else f"{reg.product}@{reg.release}",
        "status": reg.status,
    }


class SqlDevices:
    """Registry operations, each one audited transaction."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def set_model(self, name: str, limits: Mapping[str, Any], *, at: datetime, actor: str) -> None:
        """Create or update a device model's check limits."""
        with self._db.write("saving a device model") as conn:
            values = {"name": name, "limits_json": to_json(dict(limits)), "updated_at": at}
            stmt = dialect_insert(conn, device_model).values(**values, created_at=at)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[device_model.c.name],
                    set_={"limits_json": values["limits_json"], "updated_at": at},
                )
            )
            append_event(
                conn,
                EventDraft(at, actor, "device_model.set", "device_model", name, after=dict(limits)),
            )

    def model_limits(self, name: str) -> dict[str, Any]:
        """The stored limit overrides of a model; :class:`NotFoundError` if unknown."""
        with self._db.read("reading a device model") as conn:
            text = conn.execute(
                select(device_model.c.limits_json).where(device_model.c.name == name)
            ).scalar()
        if text is None:
            raise NotFoundError(f"there is no device model {name!r}")
        return dict(from_json(text))

    def register(
        self, reg: DeviceRegistration, *, credential_sha256: str, at: datetime, actor: str
    ) -> None:
        """Register a device with the SHA-256 of its HTTPS credential."""
        with self._db.write("registering a device") as conn:
            if conn.execute(select(device.c.pk).where(device.c.device_id == reg.device_id)).first():
                raise ConflictError(f"device {reg.device_id!r} is already registered")
            model_pk = conn.execute(
                select(device_model.c.pk).where(device_model.c.name == reg.model)
            ).scalar()
            if model_pk is None:
                raise NotFoundError(
                    f"there is no device model {reg.model!r}",
                    hint="create it first: medwarden device model set NAME",
                )
            release_pk = None
            if reg.product is not None:
                _, rel = product_and_release(conn, reg.product, reg.release or "")
                release_pk = rel["pk"]
            pk = conn.execute(
                device.insert()
                .values(
                    device_id=reg.device_id,
                    model_pk=model_pk,
                    serial=reg.serial,
                    software_version=reg.software_version,
                    firmware_version=reg.firmware_version,
                    controller_algorithm=reg.controller_algorithm,
                    controller_version=reg.controller_version,
                    release_pk=release_pk,
                    patient_ref=reg.patient_ref,
                    status="active",
                    credential_sha256=credential_sha256,
                    registered_at=at,
                    updated_at=at,
                )
                .returning(device.c.pk)
            ).scalar_one()
            conn.execute(
                device_chain.insert().values(
                    device_pk=pk, state_json=None, ledger_size=0, frontier=b"", updated_at=at
                )
            )
            append_event(
                conn,
                EventDraft(
                    at, actor, "device.register", "device", reg.device_id, after=_public(reg)
                ),
            )

    def get(self, device_id: str) -> DeviceRegistration:
        """The registration of ``device_id``; :class:`NotFoundError` if absent."""
        with self._db.read("reading a device") as conn:
            row = conn.execute(_registry_query().where(device.c.device_id == device_id))
            found = row.mappings().first()
        if found is None:
            raise NotFoundError(f"there is no device {device_id!r}")
        return _registration(found)

    def all(self, *, software_version: str | None = None) -> list[DeviceRegistration]:
        """Every registered device (optionally of one software version), by device id."""
        query = _registry_query().order_by(device.c.device_id)
        if software_version is not None:
            query = query.where(device.c.software_version == software_version)
        with self._db.read("listing devices") as conn:
            return [_registration(r) for r in conn.execute(query).mappings()]

    def running_component(self, component_identity: str) -> list[DeviceRegistration]:
        """Devices whose release's current SBOM revision holds a component identity."""
        holders = (
            select(release.c.pk)
            .join(
                revision_component,
                revision_component.c.revision_pk == release.c.current_revision_pk,
            )
            .join(component, component.c.pk == revision_component.c.component_pk)
            .where(component.c.identity == component_identity)
        )
        query = (
            _registry_query().where(device.c.release_pk.in_(holders)).order_by(device.c.device_id)
        )
        with self._db.read("finding devices running a component") as conn:
            return [_registration(r) for r in conn.execute(query).mappings()]

    def device_for_credential(self, credential_sha256: str) -> tuple[str, str] | None:
        """(device id, status) of the device holding a credential, if any."""
        with self._db.read("authenticating a device") as conn:
            row = conn.execute(
                select(device.c.device_id, device.c.status).where(
                    device.c.credential_sha256 == credential_sha256
                )
            ).first()
        return None if row is None else (row[0], row[1])

    def active_credentials(self, limit: int) -> list[tuple[str, str]]:
        """(credential SHA-256, device id) of up to ``limit`` active devices, those that sent
        most recently first (to warm a server's credential cache)."""
        query = (
            select(device.c.credential_sha256, device.c.device_id)
            .join(device_chain, device_chain.c.device_pk == device.c.pk, isouter=True)
            .where(device.c.status == "active", device.c.credential_sha256.is_not(None))
            .order_by(device_chain.c.last_received_at.desc().nulls_last(), device.c.pk)
            .limit(limit)
        )
        with self._db.read("reading device credentials") as conn:
            return [(r[0], r[1]) for r in conn.execute(query)]

    def set_credential(
        self, device_id: str, credential_sha256: str, *, at: datetime, actor: str
    ) -> None:
        """Replace a device's HTTPS credential (the old one stops working at once)."""
        with self._db.write("issuing a device credential") as conn:
            pk = device_pk_of(conn, device_id)
            conn.execute(
                update(device)
                .where(device.c.pk == pk)
                .values(credential_sha256=credential_sha256, updated_at=at)
            )
            append_event(
                conn, EventDraft(at, actor, "device.credential_issue", "device", device_id)
            )

    def retire(self, device_id: str, *, at: datetime, actor: str, reason: str) -> None:
        """Retire a device: its credential and keys stop being accepted; its ledger stays."""
        with self._db.write("retiring a device") as conn:
            pk = device_pk_of(conn, device_id)
            conn.execute(
                update(device)
                .where(device.c.pk == pk)
                .values(status="retired", credential_sha256=None, updated_at=at)
            )
            self._retire_keys(conn, pk, KeyState.REVOKED, at, reason)
            append_event(
                conn, EventDraft(at, actor, "device.retire", "device", device_id, reason=reason)
            )

    def keys(self, device_id: str) -> list[DeviceKey]:
        """Every key of a device, oldest first."""
        with self._db.read("reading device keys") as conn:
            found = device_keys(conn, device_pk_of(conn, device_id))
        return sorted(found, key=lambda k: k.enrolled_at)

    def enroll_key(self, device_id: str, public_key: bytes, *, at: datetime, actor: str) -> str:
        """Enroll a device's first key; use :meth:`rotate_key` once it has one."""
        with self._db.write("enrolling a device key") as conn:
            pk = device_pk_of(conn, device_id)
            if any(k.state is KeyState.ACTIVE for k in device_keys(conn, pk)):
                raise RuleViolationError(
                    f"device {device_id!r} already has an active key",
                    hint="rotate it: medwarden device key rotate",
                )
            kid = self._insert_key(conn, pk, public_key, at)
            append_event(
                conn,
                EventDraft(at, actor, "device.key_enroll", "device", device_id, after={"key": kid}),
            )
            return kid

    def rotate_key(self, device_id: str, public_key: bytes, *, at: datetime, actor: str) -> str:
        """Make ``public_key`` the active key; the previous one verifies only older records."""
        with self._db.write("rotating a device key") as conn:
            pk = device_pk_of(conn, device_id)
            old = [k.key_id for k in device_keys(conn, pk) if k.state is KeyState.ACTIVE]
            self._retire_keys(conn, pk, KeyState.ROTATED, at, "rotated")
            kid = self._insert_key(conn, pk, public_key, at)
            append_event(
                conn,
                EventDraft(
                    at,
                    actor,
                    "device.key_rotate",
                    "device",
                    device_id,
                    before={"keys": old},
                    after={"key": kid},
                ),
            )
            return kid

    def revoke_key(
        self, device_id: str, kid: str, *, at: datetime, actor: str, reason: str
    ) -> None:
        """Revoke a key: nothing it signs is accepted from now on."""
        with self._db.write("revoking a device key") as conn:
            pk = device_pk_of(conn, device_id)
            done = conn.execute(
                update(device_key)
                .where(
                    and_(
                        device_key.c.device_pk == pk,
                        device_key.c.key_id == kid,
                        device_key.c.state != KeyState.REVOKED.value,
                    )
                )
                .values(state=KeyState.REVOKED.value, retired_at=at, reason=reason)
            ).rowcount
            if not done:
                raise NotFoundError(f"device {device_id!r} has no unrevoked key {kid!r}")
            append_event(
                conn,
                EventDraft(
                    at,
                    actor,
                    "device.key_revoke",
                    "device",
                    device_id,
                    after={"key": kid},
                    reason=reason,
                ),
            )

    @staticmethod
    def _insert_key(conn: Connection, pk: int, public_key: bytes, at: datetime) -> str:
        kid = key_id(public_key)
        exists = conn.execute(
            select(device_key.c.pk).where(device_key.c.device_pk == pk, device_key.c.key_id == kid)
        ).first()
        if exists:
            raise ConflictError(f"key {kid} was already enrolled for this device")
        conn.execute(
            device_key.insert().values(
                device_pk=pk,
                key_id=kid,
                public_key=public_key,
                state=KeyState.ACTIVE.value,
                enrolled_at=at,
            )
        )
        return kid

    @staticmethod
    def _retire_keys(conn: Connection, pk: int, state: KeyState, at: datetime, reason: str) -> None:
        live = (
            [KeyState.ACTIVE.value]
            if state is KeyState.ROTATED
            else [
                KeyState.ACTIVE.value,
                KeyState.ROTATED.value,
            ]
        )
        conn.execute(
            update(device_key)
            .where(device_key.c.device_pk == pk, device_key.c.state.in_(live))
            .values(state=state.value, retired_at=at, reason=reason)
        )
