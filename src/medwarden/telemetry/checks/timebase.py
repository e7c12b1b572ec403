"""Check 3: time-base jumps and clock drift.

Between consecutive records in chain order (``dt`` = device-time step, ``rt`` = receipt
step):

* ``time_backwards`` -- ``dt < -time_backwards_tolerance_min`` (also across a reboot: a
  clock reset to a past date is exactly what this catches).
* ``time_jump_forward`` -- within a boot, ``dt - max(rt, 0) > time_forward_jump_min``:
  the device clock advanced further than the time that passed between receipts can
  explain (a clock set forward, or a stall hidden inside a buffered upload).

Drift is ``device_time - received_at``.  A single late upload makes it negative for a
while, so one record proves nothing: ``clock_drift`` is raised at the
``drift_min_records``-th consecutive record whose drift exceeds ``drift_limit_min`` with
the same sign, once per such run, naming all of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from medwarden.telemetry.checks.base import (
    Candidate,
    CheckInput,
    Lookback,
    Severity,
    StoredRecord,
    minutes_text,
)
from medwarden.telemetry.checks.limits import DeviceLimits

__all__ = ["TimeBaseCheck"]


@dataclass(frozen=True, slots=True)
class TimeBaseCheck:
    """Device clock jumps between consecutive records and sustained drift."""

    check_id: str = "time_base"

    def lookback(self, limits: DeviceLimits) -> Lookback:
        """The ``drift_min_records`` records before the batch."""
        return Lookback(records=max(1, limits.drift_min_records))

    def evaluate(self, data: CheckInput) -> Iterator[Candidate]:
        """Yield jumps (decided by the later record) and drift trends."""
        for prev, cur in itertools.pairwise(data.records):
            yield from _jumps(data.limits, prev, cur)
        yield from _drift(data)


def _jumps(limits: DeviceLimits, prev: StoredRecord, cur: StoredRecord) -> Iterator[Candidate]:
    dt = cur.time - prev.time
    if dt < -limits.minutes("time_backwards_tolerance_min"):
        yield Candidate(
            "time_backwards",
            Severity.HIGH,
            (prev, cur),
            f"device time steps back by {minutes_text(-dt)}",
            decided_by=cur,
        )
        return
    excess = dt - max(cur.received_at - prev.received_at, timedelta(0))
    same_boot = prev.record.boot_id == cur.record.boot_id
    if same_boot and excess > limits.minutes("time_forward_jump_min"):
        yield Candidate(
            "time_jump_forward",
            Severity.MEDIUM,
            (prev, cur),
            f"device time advances {minutes_text(dt)}, {minutes_text(excess)} more than "
            f"the time between receipts (limit {limits.time_forward_jump_min:g} min)",
            decided_by=cur,
        )


def _sign(limits: DeviceLimits, stored: StoredRecord) -> int:
    drift = stored.time - stored.received_at
    limit = limits.minutes("drift_limit_min")
    return 1 if drift > limit else -1 if drift < -limit else 0


def _drift(data: CheckInput) -> Iterator[Candidate]:
    need = data.limits.drift_min_records
    run, sign = 0, 0
    for index, stored in enumerate(data.records):
        current = _sign(data.limits, stored)
        run = run + 1 if current != 0 and current == sign else (1 if current else 0)
        sign = current
        if run == need:
            evidence = data.records[index - need + 1 : index + 1]
            yield _drift_candidate(data.limits, evidence, sign)


def _drift_candidate(
    limits: DeviceLimits, evidence: tuple[StoredRecord, ...], sign: int
) -> Candidate:
    last = evidence[-1]
    where = "ahead of" if sign > 0 else "behind"
    return Candidate(
        "clock_drift",
        Severity.MEDIUM,
        evidence,
        f"device clock {where} receipt time by more than {limits.drift_limit_min:g} min for "
        f"{len(evidence)} consecutive records (last: {minutes_text(last.time - last.received_at)})",
        decided_by=last,
    )
