"""Check 1: stale data and signal loss.

* ``sensor_gap`` -- two consecutive ``sensor_reading`` records (chain order) more than
  ``stale_after_min`` apart in device time: a hole in the glucose data the controller
  had.  Decided by the later reading; names both.
* ``signal_loss`` -- no sensor reading was *received* for more than ``stale_after_min``
  after a reading (server clock).  Due at ``received_at + stale_after_min`` of the last
  reading (time-based, so a silent device is flagged without any new record), or
  decided earlier by the first record received after that instant.  Names the last
  reading before the loss.  The time before the window's first sensor reading is
  measured from the window's first record (for the device's first records, or a device
  that sends no sensor data at all: then once per look-back window).

Every ``sensor_reading`` counts as signal, whatever its ``quality``: this check is about
data arriving, the sensor-quality check about what the data say.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from medwarden.telemetry.checks.base import (
    Candidate,
    CheckInput,
    Lookback,
    Severity,
    StoredRecord,
    minutes_text,
)
from medwarden.telemetry.checks.limits import DeviceLimits
from medwarden.telemetry.records import RecordType

__all__ = ["StaleDataCheck"]


@dataclass(frozen=True, slots=True)
class StaleDataCheck:
    """Gaps in sensor data (device time) and signal loss (server time)."""

    check_id: str = "stale_data"

    def lookback(self, limits: DeviceLimits) -> Lookback:
        """The previous record and the latest earlier sensor reading."""
        return Lookback(records=1, last_of=frozenset({RecordType.SENSOR_READING}))

    def evaluate(self, data: CheckInput) -> Iterator[Candidate]:
        """Yield sensor gaps and signal losses."""
        if not data.records:
            return
        readings = [i for i, s in enumerate(data.records) if s.kind is RecordType.SENSOR_READING]
        yield from _gaps(data, readings)
        starts = readings if readings[:1] == [0] else [0, *readings]
        for position, index in enumerate(starts):
            following = starts[position + 1] if position + 1 < len(starts) else None
            yield from _signal_loss(data, index, following)


def _gaps(data: CheckInput, readings: list[int]) -> Iterator[Candidate]:
    limit = data.limits.minutes("stale_after_min")
    for before, after in itertools.pairwise(readings):
        prev, cur = data.records[before], data.records[after]
        if cur.time - prev.time > limit:
            yield Candidate(
                "sensor_gap",
                Severity.MEDIUM,
                (prev, cur),
                f"no sensor reading for {minutes_text(cur.time - prev.time)} of device time "
                f"(limit {data.limits.stale_after_min:g} min)",
                decided_by=cur,
            )


def _signal_loss(data: CheckInput, index: int, following: int | None) -> Iterator[Candidate]:
    start = data.records[index]
    due = start.received_at + data.limits.minutes("stale_after_min")
    if following is not None and data.records[following].received_at <= due:
        return
    decider = _first_received_after(data.after(index), due)
    what = "this sensor reading" if start.kind is RecordType.SENSOR_READING else "this record"
    yield Candidate(
        "signal_loss",
        Severity.HIGH,
        (start,),
        f"no sensor reading received within {data.limits.stale_after_min:g} min after {what}",
        decided_by=decider,
        due=due,
    )


def _first_received_after(records: Iterable[StoredRecord], due: datetime) -> StoredRecord | None:
    return next((stored for stored in records if stored.received_at > due), None)
