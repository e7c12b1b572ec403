"""Check 2: chain gaps and sequence jumps among a device's accepted records.

The chain module records a ``gap`` security event when a record arrives ahead of its
predecessors; this check turns a jump that is still unfilled in the accepted chain into a
warning, decided by the record after the jump and naming both records that bound it:

* ``chain_gap`` -- within a boot, ``seq`` jumps by more than ``1 + chain_gap_tolerance``;
  or a new boot's first record in the chain has ``seq`` above the tolerance.
* ``seq_regression`` -- within a boot, ``seq`` does not increase (the chain should never
  hold this; it means the store or the chain order is wrong).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from medwarden.telemetry.checks.base import (
    Candidate,
    CheckInput,
    Lookback,
    Severity,
    StoredRecord,
)
from medwarden.telemetry.checks.limits import DeviceLimits

__all__ = ["ChainGapCheck"]


@dataclass(frozen=True, slots=True)
class ChainGapCheck:
    """Unfilled sequence jumps and regressions between consecutive chain records."""

    check_id: str = "chain_gap"

    def lookback(self, limits: DeviceLimits) -> Lookback:
        """The record before the batch."""
        return Lookback(records=1)

    def evaluate(self, data: CheckInput) -> Iterator[Candidate]:
        """Yield one candidate per jump or regression, decided by the later record."""
        tolerance = data.limits.chain_gap_tolerance
        for prev, cur in itertools.pairwise(data.records):
            found = _judge(prev, cur, tolerance)
            if found is not None:
                yield found


def _judge(prev: StoredRecord, cur: StoredRecord, tolerance: int) -> Candidate | None:
    a, b = prev.record, cur.record
    if a.boot_id != b.boot_id:
        if b.seq > tolerance:
            return _gap(prev, cur, 0, b.seq - 1, f"new boot {b.boot_id} starts at seq {b.seq}")
        return None
    if b.seq <= a.seq:
        return Candidate(
            "seq_regression",
            Severity.HIGH,
            (prev, cur),
            f"seq {b.seq} follows seq {a.seq} in boot {b.boot_id}: chain order is broken",
            decided_by=cur,
        )
    if b.seq - a.seq - 1 > tolerance:
        return _gap(prev, cur, a.seq + 1, b.seq - 1, f"boot {b.boot_id} jumps")
    return None


def _gap(prev: StoredRecord, cur: StoredRecord, lo: int, hi: int, why: str) -> Candidate:
    return Candidate(
        "chain_gap",
        Severity.MEDIUM,
        (prev, cur),
        f"{why}: records {lo}..{hi} ({hi - lo + 1}) are missing from the chain",
        decided_by=cur,
    )
