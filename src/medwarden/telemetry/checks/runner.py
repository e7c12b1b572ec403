"""Run the registered checks over one device's records and keep only what is new.

The store calls :func:`run_checks` after accepting a batch, with the batch and the
look-back the registry asks for (:meth:`CheckRegistry.lookback`,
:meth:`Lookback.select`), in chain order, and the hashes of the new records.  It may also
call it without new records (``new=()``) to let time-based conditions (signal loss, an
unconfirmed command) fall due.  A candidate is emitted when it is decided in this run and
was not in an earlier one:

* decided by a record: emitted iff that record is new;
* due at a server instant: emitted iff ``previous_run <= due < now`` and no record
  decided it in an earlier run (``previous_run`` is the ``now`` of the previous run).

So re-running over ``[look-back + new]`` never repeats a warning of an earlier batch, and
running over any split of a chain (records arriving in chain order) yields the warnings
of one run over all of it.  A check that raises is reported as a ``check_error`` warning
naming the first new record whose inclusion makes it fail, never dropped.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from medwarden.errors import UsageError
from medwarden.telemetry.checks.base import (
    CHECK_ERROR,
    Candidate,
    Check,
    CheckInput,
    DeviceContext,
    EarlyWarning,
    Severity,
    StoredRecord,
)
from medwarden.telemetry.checks.limits import DeviceLimits
from medwarden.telemetry.checks.registry import CheckRegistry, default_registry

__all__ = ["run_checks"]

_Key = tuple[int, str, str, tuple[int, ...], str]
"""Output order: latest record named (chain position), check id, code, evidence, detail."""


def run_checks(
    context: DeviceContext,
    limits: DeviceLimits,
    records: Sequence[StoredRecord],
    *,
    now: datetime,
    new: Collection[str] | None = None,
    previous_run: datetime | None = None,
    registry: CheckRegistry | None = None,
) -> tuple[EarlyWarning, ...]:
    """Return the new early warnings for ``records`` (chain order; see the module doc).

    ``new`` holds the hashes of the newly accepted records (``None``: all are new).
    """
    window = tuple(records)
    fresh = _validate(context, window, new, now, previous_run)
    if not window:
        return ()
    data = CheckInput(context, limits, window, now)
    out: list[tuple[_Key, EarlyWarning]] = []
    positions = {s.record_hash: i for i, s in enumerate(window)}
    for check in registry if registry is not None else default_registry():
        try:
            found = [c for c in check.evaluate(data) if _emitted(c, fresh, now, previous_run)]
            keyed = [_keyed(check, context, candidate, positions) for candidate in found]
        except Exception as exc:  # a failing check is reported, never lost
            keyed = [_keyed(check, context, _crash(check, data, fresh, exc), positions)]
        out.extend(keyed)
    unique = dict(out)
    return tuple(unique[key] for key in sorted(unique))


def _validate(
    context: DeviceContext,
    records: tuple[StoredRecord, ...],
    new: Collection[str] | None,
    now: datetime,
    previous_run: datetime | None,
) -> frozenset[str]:
    for name, value in (("now", now), ("previous_run", previous_run)):
        if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
            raise UsageError(f"{name} must be a timezone-aware datetime")
    if previous_run is not None and previous_run > now:
        raise UsageError("previous_run is later than now")
    hashes = [s.record_hash for s in records]
    if len(set(hashes)) != len(hashes):
        raise UsageError("the same record is given twice")
    other = next((s for s in records if s.record.device_id != context.device_id), None)
    if other is not None:
        raise UsageError(f"record of device {other.record.device_id} given for {context.device_id}")
    fresh = frozenset(hashes) if new is None else frozenset(new)
    if not fresh <= set(hashes):
        raise UsageError("new names a record that is not among the records")
    return fresh


def _emitted(
    candidate: Candidate, fresh: frozenset[str], now: datetime, previous_run: datetime | None
) -> bool:
    by, due = candidate.decided_by, candidate.due
    if by is not None and by.record_hash not in fresh:
        return False
    if due is not None and previous_run is not None and due < previous_run:
        return False
    return by is not None or (due is not None and due < now)


def _crash(check: Check, data: CheckInput, fresh: frozenset[str], exc: Exception) -> Candidate:
    """A check_error naming the first new record whose inclusion makes ``check`` fail.

    It is due ``now``, and always emitted: the failure is a fact of this run.
    """
    culprit = data.records[-1]
    for index, stored in enumerate(data.records):
        if stored.record_hash in fresh and _fails(check, data, index):
            culprit = stored
            break
    return Candidate(
        CHECK_ERROR,
        Severity.HIGH,
        (culprit,),
        f"check {check.check_id} failed on {culprit.label()}: {type(exc).__name__}: {exc}",
        due=data.now,
    )


def _fails(check: Check, data: CheckInput, index: int) -> bool:
    prefix = CheckInput(data.context, data.limits, data.records[: index + 1], data.now)
    try:
        list(check.evaluate(prefix))
    except Exception:
        return True
    return False


def _keyed(
    check: Check, context: DeviceContext, candidate: Candidate, positions: dict[str, int]
) -> tuple[_Key, EarlyWarning]:
    by = candidate.decided_by
    at = candidate.due if candidate.due is not None else by.received_at if by else None
    assert at is not None  # noqa: S101 - Candidate guarantees decided_by or due
    warning = EarlyWarning(
        check_id=check.check_id,
        code=candidate.code,
        severity=candidate.severity,
        device_id=context.device_id,
        patient_ref=context.patient_ref,
        software_version=context.software_version,
        evidence=tuple(s.ref for s in candidate.evidence),
        detail=candidate.detail,
        at=at,
    )
    try:
        places = tuple(positions[s.record_hash] for s in candidate.evidence)
    except KeyError:
        raise UsageError(f"check {check.check_id} names a record outside its input") from None
    return (max(places), warning.check_id, warning.code, places, warning.detail), warning
