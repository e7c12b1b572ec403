"""Early warnings in table ``early_warning``: run the checks and store, list, acknowledge.

:meth:`SqlWarnings.run_device` reads the device's unchecked records (ledger indices from
``device_check_run.checked_size`` to the ledger size) with their look-back in one read
snapshot, runs :func:`~medwarden.telemetry.checks.run_checks` *outside* any write
transaction (re-computation may run a controller), then commits in one short write
transaction: the new warnings (``INSERT ... ON CONFLICT DO NOTHING`` on the device's
dedupe key), the moved ``previous_run``/``checked_size`` and one
``telemetry.early_warning`` notification per inserted warning.  The commit first checks
(under the state row's lock) that no other run moved the state since the read; if one
did, the run starts over, so concurrent runs never skip or repeat records.  A backlog is
processed in chunks of :data:`CHUNK` records, each judged as of its latest receipt.

Fleet warnings (``device_pk`` NULL) are stored by :meth:`SqlWarnings.store_fleet`,
deduplicated per model, check, code, software version and period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, text, update

from medwarden.audit.model import EventDraft
from medwarden.errors import ConflictError, NotFoundError
from medwarden.services.telemetry_checks import (
    FleetInput,
    StoredWarning,
    WarningQuery,
    period_bounds,
)
from medwarden.store._batching import chunked
from medwarden.store._ops import dialect_insert, from_json, to_json
from medwarden.store._warning_rows import (
    DeviceRow,
    device_days_of,
    device_dedupe_key,
    device_row,
    fleet_counts,
    fleet_row,
    load_window,
    run_state,
    warning_notification,
    warning_of_row,
    warning_query,
)
from medwarden.store.audit_repository import append_event
from medwarden.store.notification_repository import enqueue_notifications
from medwarden.store.schema_telemetry import (
    device,
    device_chain,
    device_check_run,
    device_model,
    early_warning,
)
from medwarden.telemetry.checks import (
    CheckRegistry,
    DeviceLimits,
    EarlyWarning,
    StoredRecord,
    run_checks,
)
from medwarden.telemetry.checks.fleet import FleetWarning

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["CHUNK", "SqlWarnings"]

CHUNK = 2000
"""Most new records one check run judges at once."""

_ATTEMPTS = 5
_FLEET = text("device_pk IS NULL")


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What one run read: the device, the state it started from, the window it judges."""

    device: DeviceRow
    previous_run: datetime | None
    checked_size: int
    end: int
    size: int
    records: tuple[StoredRecord, ...]
    new: frozenset[str]
    now: datetime
    registry: CheckRegistry


class SqlWarnings:
    """Check runs and the early warnings they store."""

    def __init__(self, database: Database) -> None:
        self._db = database

    # -- runs -----------------------------------------------------------------------------

    def run_device(
        self,
        device_id: str,
        registry: CheckRegistry,
        *,
        now: datetime,
        idle: CheckRegistry | None = None,
    ) -> list[StoredWarning]:
        """Run the checks over the device's unchecked records; return the new warnings.

        ``idle`` (if given) replaces ``registry`` when there is no unchecked record: the
        time-based checks, the only ones that can emit anything without new records."""
        stored: list[StoredWarning] = []
        while True:
            done, found = self._run_chunk(device_id, registry, idle, now)
            stored += found
            if done:
                return stored

    def _run_chunk(
        self, device_id: str, registry: CheckRegistry, idle: CheckRegistry | None, now: datetime
    ) -> tuple[bool, list[StoredWarning]]:
        for _attempt in range(_ATTEMPTS):
            snap = self._snapshot(device_id, registry, now, idle)
            limits = DeviceLimits.from_mapping(snap.device.limits)
            found = run_checks(
                snap.device.context,
                limits,
                snap.records,
                now=snap.now,
                new=snap.new,
                previous_run=snap.previous_run,
                registry=snap.registry,
            )
            written = self._commit(snap, found)
            if written is not None:
                return snap.end >= snap.size, written
        raise ConflictError(
            f"the checks of device {device_id!r} kept racing with another run",
            hint="retry; the job queue does so by itself",
        )

    def _snapshot(
        self,
        device_id: str,
        registry: CheckRegistry,
        now: datetime,
        idle: CheckRegistry | None = None,
    ) -> _Snapshot:
        with self._db.read("reading records to check") as conn:
            dev = device_row(conn, device_id)
            previous, checked = run_state(conn, dev.pk)
            size = int(
                conn.execute(
                    select(device_chain.c.ledger_size).where(device_chain.c.device_pk == dev.pk)
                ).scalar_one()
            )
            end = min(size, checked + CHUNK)
            if end == checked and idle is not None:
                registry = idle
            lookback = registry.lookback(DeviceLimits.from_mapping(dev.limits))
            records, new = load_window(conn, dev.pk, lookback, checked, end)
        start = now if previous is None else max(now, previous)
        at = start
        if end < size:  # an intermediate chunk is judged as of its latest receipt
            latest = max((s.received_at for s in records if s.record_hash in new), default=start)
            at = min(start, latest if previous is None else max(previous, latest))
        return _Snapshot(dev, previous, checked, end, size, records, new, at, registry)

    def _commit(self, snap: _Snapshot, found: Sequence[EarlyWarning]) -> list[StoredWarning] | None:
        with self._db.write("storing early warnings") as conn:
            if not _claim_state(conn, snap):
                return None
            rows = [_device_row(snap, w) for w in found]
            inserted = _insert(conn, rows, [early_warning.c.device_pk, early_warning.c.dedupe_key])
            stored = _read(conn, inserted)
            enqueue_notifications(
                conn, [warning_notification(w, snap.device.product) for w in stored]
            )
            return stored

    # -- fleet ----------------------------------------------------------------------------

    def active_device_ids(self) -> list[str]:
        """Every active device, by id."""
        with self._db.read("listing active devices") as conn:
            query = select(device.c.device_id).where(device.c.status == "active")
            return list(conn.execute(query.order_by(device.c.device_id)).scalars())

    def fleet_inputs(self, start: date, end: date) -> list[FleetInput]:
        """Device-days of ``[start, end)`` (UTC days of device time) per device model."""
        lo, hi = period_bounds((start, end))
        with self._db.read("counting fleet events") as conn:
            counts = fleet_counts(conn, lo, hi)
            models = select(device_model.c.name, device_model.c.limits_json)
            limits = {name: from_json(text) for name, text in conn.execute(models)}
        days: dict[str, dict[tuple[str, str, date], dict[str, int]]] = {}
        for model, device_id, version, day, kind, n in counts:
            slot = days.setdefault(model, {}).setdefault((device_id, version, day), {})
            slot[kind] = slot.get(kind, 0) + n
        return [
            FleetInput(model, limits[model], device_days_of(per_day))
            for model, per_day in sorted(days.items())
        ]

    def store_fleet(
        self, model: str, found: Sequence[FleetWarning], period: tuple[date, date], *, now: datetime
    ) -> list[StoredWarning]:
        """Store fleet warnings of a model for a period (idempotent); return the new ones."""
        label = f"{period[0].isoformat()}/{period[1].isoformat()}"
        rows = [fleet_row(model, w, label, now) for w in found]
        with self._db.write("storing fleet warnings") as conn:
            inserted = _insert(conn, rows, [early_warning.c.dedupe_key], where=_FLEET)
            stored = _read(conn, inserted)
            enqueue_notifications(conn, [warning_notification(w, None) for w in stored])
        return stored

    # -- reads and acknowledgement ----------------------------------------------------------

    def get(self, warning_id: int) -> StoredWarning:
        """One warning; NotFoundError if there is none with this id."""
        with self._db.read("reading an early warning") as conn:
            row = conn.execute(warning_query().where(early_warning.c.pk == warning_id))
            found = row.mappings().first()
        if found is None:
            raise NotFoundError(f"there is no early warning {warning_id}")
        return warning_of_row(found)

    def list_warnings(
        self, query: WarningQuery, *, before: int | None = None, limit: int = 100
    ) -> list[StoredWarning]:
        """Warnings matching ``query``, newest first, with ids below ``before``."""
        c = early_warning.c
        stmt = warning_query()
        if query.device_id is not None:
            stmt = stmt.where(device.c.device_id == query.device_id)
        if query.severity is not None:
            stmt = stmt.where(c.severity == query.severity.value)
        if query.state is not None:
            stmt = stmt.where(c.state == query.state.value)
        if query.since is not None:
            stmt = stmt.where(c.at >= query.since)
        if before is not None:
            stmt = stmt.where(c.pk < before)
        stmt = stmt.order_by(c.pk.desc()).limit(limit)
        with self._db.read("listing early warnings") as conn:
            return [warning_of_row(r) for r in conn.execute(stmt).mappings()]

    def acknowledge(self, warning_id: int, *, actor: str, note: str, at: datetime) -> StoredWarning:
        """Acknowledge an open warning (audited ``telemetry.warning_acknowledge``)."""
        with self._db.write("acknowledging an early warning") as conn:
            found = conn.execute(warning_query().where(early_warning.c.pk == warning_id))
            row = found.mappings().first()
            if row is None:
                raise NotFoundError(f"there is no early warning {warning_id}")
            done = conn.execute(
                update(early_warning)
                .where(early_warning.c.pk == warning_id, early_warning.c.state == "open")
                .values(state="acknowledged", acknowledged_by=actor, acknowledged_at=at, note=note)
            )
            if done.rowcount == 0:
                raise ConflictError(f"early warning {warning_id} is already acknowledged")
            after = {"state": "acknowledged", "acknowledged_by": actor, "note": note}
            append_event(
                conn,
                EventDraft(
                    at,
                    actor,
                    "telemetry.warning_acknowledge",
                    "early_warning",
                    str(warning_id),
                    before={"state": row["state"], "code": row["code"], "device": row["device_id"]},
                    after=after,
                    reason=note,
                ),
            )
            (stored,) = _read(conn, [warning_id])
        return stored


def _claim_state(conn: Connection, snap: _Snapshot) -> bool:
    """Move the device's run state if no other run moved it since ``snap`` was read."""
    pk = snap.device.pk
    current = run_state(conn, pk, lock=True)
    if current != (snap.previous_run, snap.checked_size):
        return False
    values = {"previous_run": snap.now, "checked_size": snap.end, "updated_at": snap.now}
    if snap.previous_run is None:
        stmt = dialect_insert(conn, device_check_run).values(device_pk=pk, **values)
        claimed = conn.execute(
            stmt.on_conflict_do_nothing(index_elements=[device_check_run.c.device_pk]).returning(
                device_check_run.c.device_pk
            )
        ).first()
        return claimed is not None
    conn.execute(update(device_check_run).where(device_check_run.c.device_pk == pk).values(values))
    return True


def _insert(
    conn: Connection, rows: list[dict[str, Any]], conflict: list[Any], where: Any = None
) -> list[int]:
    inserted: list[int] = []
    for chunk in chunked(rows):
        stmt = dialect_insert(conn, early_warning).values(chunk)
        stmt = stmt.on_conflict_do_nothing(index_elements=conflict, index_where=where)
        inserted += [int(r[0]) for r in conn.execute(stmt.returning(early_warning.c.pk))]
    return sorted(inserted)


def _read(conn: Connection, pks: Sequence[int]) -> list[StoredWarning]:
    out: list[StoredWarning] = []
    for chunk in chunked(list(pks)):
        rows = conn.execute(warning_query().where(early_warning.c.pk.in_(chunk))).mappings()
        out += [warning_of_row(r) for r in rows]
    return sorted(out, key=lambda w: w.id)


def _device_row(snap: _Snapshot, warning: EarlyWarning) -> dict[str, Any]:
    evidence = {
        "records": [
            {"boot_id": r.boot_id, "seq": r.seq, "record_hash": r.record_hash}
            for r in warning.evidence
        ]
    }
    return {
        "device_pk": snap.device.pk,
        "check_id": warning.check_id,
        "code": warning.code,
        "severity": warning.severity.value,
        "evidence_json": to_json(evidence),
        "detail": warning.detail,
        "at": warning.at,
        "software_version": warning.software_version,
        "patient_ref": snap.device.stored_patient_ref,
        "dedupe_key": device_dedupe_key(warning),
        "state": "open",
        "created_at": snap.now,
    }
