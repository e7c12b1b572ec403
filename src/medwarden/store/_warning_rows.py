"""Reads and row codecs of the early-warning store: check windows, warnings, fleet counts,
and the notification of a new warning.

A check run reads, in one snapshot, the device's context and limits, where its previous
run stopped (``device_check_run``) and the window :func:`load_window` builds: the new
records (ledger indices ``[start, end)``) plus the look-back the registry asks for,
in chain order.  Chain order is boots in order of their first loaded record, then
``seq``: a late record that fills a gap sorts into its place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, RowMapping, Text, cast, func, select

from medwarden.core.digests import canonical_json
from medwarden.errors import NotFoundError
from medwarden.intel.cvss import SeverityRating
from medwarden.notify.model import Notification, NotificationKind
from medwarden.services.telemetry_checks import StoredWarning, WarningState
from medwarden.store._ops import from_json, to_json
from medwarden.store.schema_portfolio import product, release
from medwarden.store.schema_telemetry import (
    device,
    device_check_run,
    device_model,
    early_warning,
    telemetry_record,
)
from medwarden.telemetry.checks import (
    DeviceContext,
    DeviceDay,
    EarlyWarning,
    Lookback,
    Severity,
    StoredRecord,
)
from medwarden.telemetry.checks.fleet import FleetWarning
from medwarden.telemetry.envelope import record_from_json

__all__ = [
    "NO_PATIENT",
    "DeviceRow",
    "device_days_of",
    "device_dedupe_key",
    "device_row",
    "fleet_counts",
    "fleet_dedupe_key",
    "fleet_row",
    "load_window",
    "run_state",
    "warning_notification",
    "warning_of_row",
    "warning_query",
]

NO_PATIENT = "unassigned"
"""The patient reference checks see for a device registered without one (stored as NULL)."""

_NOTIFY_SEVERITY = {
    "info": SeverityRating.NONE,
    "low": SeverityRating.LOW,
    "medium": SeverityRating.MEDIUM,
    "high": SeverityRating.HIGH,
    "critical": SeverityRating.CRITICAL,
}

_RECORD_COLUMNS = (
    telemetry_record.c.ledger_index,
    telemetry_record.c.record_hash,
    telemetry_record.c.record_json,
    telemetry_record.c.received_at,
)


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """What a run needs to know about its device."""

    pk: int
    context: DeviceContext
    limits: Mapping[str, Any]
    product: str | None
    stored_patient_ref: str | None


def device_row(conn: Connection, device_id: str) -> DeviceRow:
    """The device's key, check context, model limits and product; NotFoundError if unknown."""
    row = (
        conn.execute(
            select(
                device.c.pk,
                device.c.software_version,
                device.c.patient_ref,
                device_model.c.name,
                device_model.c.limits_json,
                product.c.slug,
            )
            .join(device_model, device_model.c.pk == device.c.model_pk)
            .outerjoin(release, release.c.pk == device.c.release_pk)
            .outerjoin(product, product.c.pk == release.c.product_pk)
            .where(device.c.device_id == device_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"there is no device {device_id!r}")
    context = DeviceContext(
        device_id, row["name"], row["software_version"], row["patient_ref"] or NO_PATIENT
    )
    return DeviceRow(
        int(row["pk"]), context, from_json(row["limits_json"]), row["slug"], row["patient_ref"]
    )


def run_state(
    conn: Connection, device_pk: int, *, lock: bool = False
) -> tuple[datetime | None, int]:
    """(previous_run, checked_size) of the device; (None, 0) before its first run."""
    query = select(device_check_run.c.previous_run, device_check_run.c.checked_size).where(
        device_check_run.c.device_pk == device_pk
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return (None, 0) if row is None else (row[0], int(row[1]))


def _stored(row: Any) -> tuple[int, StoredRecord]:
    record = record_from_json(orjson.loads(row.record_json))
    return int(row.ledger_index), StoredRecord(record, row.record_hash, row.received_at)


def _chain_order(loaded: Iterable[tuple[int, StoredRecord]]) -> list[tuple[int, StoredRecord]]:
    items = list(loaded)
    first: dict[str, int] = {}
    for index, stored in items:
        boot = stored.record.boot_id
        first[boot] = min(first.get(boot, index), index)
    return sorted(items, key=lambda item: (first[item[1].record.boot_id], item[1].record.seq))


def _history(
    conn: Connection, device_pk: int, lookback: Lookback, start: int, reference: datetime | None
) -> dict[int, Any]:
    rec = telemetry_record.c
    base = select(*_RECORD_COLUMNS).where(rec.device_pk == device_pk, rec.ledger_index < start)
    rows: dict[int, Any] = {}
    if reference is not None:
        since = base.where(rec.device_time >= reference - lookback.duration)
        rows.update((int(r.ledger_index), r) for r in conn.execute(since))
    if lookback.records:
        last = base.order_by(rec.ledger_index.desc()).limit(lookback.records)
        rows.update((int(r.ledger_index), r) for r in conn.execute(last))
    for kind in sorted(lookback.last_of):
        latest = base.where(rec.record_type == kind.value).order_by(rec.ledger_index.desc())
        rows.update((int(r.ledger_index), r) for r in conn.execute(latest.limit(1)))
    return rows


def load_window(
    conn: Connection, device_pk: int, lookback: Lookback, start: int, end: int
) -> tuple[tuple[StoredRecord, ...], frozenset[str]]:
    """The records of ledger indices ``[start, end)`` plus their look-back, in chain order,
    and the hashes of the new ones."""
    rec = telemetry_record.c
    new_rows = conn.execute(
        select(*_RECORD_COLUMNS)
        .where(rec.device_pk == device_pk, rec.ledger_index >= start, rec.ledger_index < end)
        .order_by(rec.ledger_index)
    )
    new = [_stored(r) for r in new_rows]
    if new:
        reference: datetime | None = min(s.time for _, s in new)
    else:
        reference = conn.execute(
            select(func.max(rec.device_time)).where(
                rec.device_pk == device_pk, rec.ledger_index < start
            )
        ).scalar()
    history = [_stored(r) for r in _history(conn, device_pk, lookback, start, reference).values()]
    ordered = _chain_order([*history, *new])
    fresh = frozenset(s.record_hash for _, s in new)
    old = [s for _, s in ordered if s.record_hash not in fresh]
    chosen = {s.record_hash for s in lookback.select(old, [s for _, s in new])} | fresh
    return tuple(s for _, s in ordered if s.record_hash in chosen), fresh


def _digest(parts: Sequence[Any]) -> str:
    return hashlib.sha256(canonical_json(list(parts))).hexdigest()


def device_dedupe_key(warning: EarlyWarning) -> str:
    """(device, check id, code, evidence hashes) as one SHA-256 hex key."""
    hashes = [ref.record_hash for ref in warning.evidence]
    return _digest(["device", warning.device_id, warning.check_id, warning.code, hashes])


def fleet_dedupe_key(model: str, check_id: str, code: str, version: str, period: str) -> str:
    """(fleet, model, check id, code, software version, period) as one SHA-256 hex key."""
    return _digest(["fleet", model, check_id, code, version, period])


def warning_query() -> Any:
    """``SELECT`` of warnings with their device's id (``device_id``)."""
    return select(early_warning, device.c.device_id).outerjoin(
        device, device.c.pk == early_warning.c.device_pk
    )


def warning_of_row(row: RowMapping) -> StoredWarning:
    """The stored warning of a row of :func:`warning_query`."""
    return StoredWarning(
        id=int(row["pk"]),
        device_id=row["device_id"],
        check_id=row["check_id"],
        code=row["code"],
        severity=Severity(row["severity"]),
        evidence=from_json(row["evidence_json"]),
        detail=row["detail"],
        at=row["at"],
        software_version=row["software_version"],
        patient_ref=row["patient_ref"],
        state=WarningState(row["state"]),
        created_at=row["created_at"],
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
        note=row["note"],
    )


def _day_expression(conn: Connection) -> Any:
    """The UTC day of ``device_time`` as ``YYYY-MM-DD`` text."""
    column = telemetry_record.c.device_time
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(cast(column, Text), 1, 10)


def fleet_counts(
    conn: Connection, start: datetime, end: datetime
) -> list[tuple[str, str, str, date, str, int]]:
    """(model, device id, software version, day, record type, count) over ``[start, end)``."""
    rec = telemetry_record.c
    day = _day_expression(conn).label("day")
    query = (
        select(
            device_model.c.name,
            device.c.device_id,
            device.c.software_version,
            day,
            rec.record_type,
            func.count().label("n"),
        )
        .select_from(telemetry_record)
        .join(device, device.c.pk == rec.device_pk)
        .join(device_model, device_model.c.pk == device.c.model_pk)
        .where(rec.device_time >= start, rec.device_time < end)
        .group_by(
            device_model.c.name, device.c.device_id, device.c.software_version, day, rec.record_type
        )
    )
    return [
        (r[0], r[1], r[2], date.fromisoformat(str(r[3])), r[4], int(r[5]))
        for r in conn.execute(query)
    ]


def fleet_row(model: str, warning: FleetWarning, period: str, now: datetime) -> dict[str, Any]:
    evidence = {
        "model": model,
        "metric": warning.metric.value,
        "events": warning.events,
        "device_days": warning.device_days,
        "rate": warning.rate,
        "baseline": warning.baseline,
        "device_ids": list(warning.device_ids),
        "period": period,
    }
    return {
        "device_pk": None,
        "check_id": warning.check_id,
        "code": warning.code,
        "severity": warning.severity.value,
        "evidence_json": to_json(evidence),
        "detail": f"{model} {warning.software_version}: {warning.detail} ({period})",
        "at": now,
        "software_version": warning.software_version,
        "patient_ref": None,
        "dedupe_key": fleet_dedupe_key(
            model, warning.check_id, warning.code, warning.software_version, period
        ),
        "state": "open",
        "created_at": now,
    }


def device_days_of(per_day: dict[tuple[str, str, date], dict[str, int]]) -> tuple[DeviceDay, ...]:
    return tuple(
        DeviceDay(
            device_id,
            version,
            day,
            mode_changes=kinds.get("mode_change", 0),
            alarms=kinds.get("alarm", 0),
            user_overrides=kinds.get("user_override", 0),
        )
        for (device_id, version, day), kinds in sorted(per_day.items())
    )


def warning_notification(warning: StoredWarning, product: str | None) -> Notification:
    where = f"device {warning.device_id}" if warning.device_id else "the fleet"
    return Notification(
        kind=NotificationKind.EARLY_WARNING,
        at=warning.at,
        subject=f"{warning.severity.value} early warning {warning.code} on {where}",
        dedupe_key=f"early_warning:{warning.id}",
        product=product,
        severity=_NOTIFY_SEVERITY[warning.severity.value],
        payload={
            "warning_id": warning.id,
            "device_id": warning.device_id,
            "patient_ref": warning.patient_ref,
            "software_version": warning.software_version,
            "check_id": warning.check_id,
            "code": warning.code,
            "severity": warning.severity.value,
            "evidence": warning.evidence,
            "detail": warning.detail,
        },
    )
