"""The glucose series the sensor-quality detectors read.

A :class:`Reading` is a ``sensor_reading`` whose ``quality`` is ``ok`` (the default) and
whose ``glucose_mg_dl`` is a number; readings the device itself marks ``warmup`` or
``error`` are left out.  A malformed body (missing or mistyped ``glucose_mg_dl``, a
``quality`` outside the documented values) becomes a ``check_error`` candidate.

:func:`segments` splits the series where consecutive readings are more than
``stale_after_min`` apart or device time goes backwards: detectors never look across a
gap (the stale-data check reports those), which also keeps them local to a bounded
look-back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from medwarden.telemetry.checks.base import Candidate, StoredRecord
from medwarden.telemetry.checks.body import choice, number, parse_each
from medwarden.telemetry.records import RecordType

__all__ = ["QUALITIES", "Reading", "glucose_series", "segments"]

QUALITIES = frozenset({"ok", "warmup", "error"})


@dataclass(frozen=True, slots=True)
class Reading:
    """A usable glucose value and the record it came from."""

    stored: StoredRecord
    glucose: float


def _parse(stored: StoredRecord) -> Reading | None:
    body = stored.record.body
    quality = choice(body, "quality", QUALITIES, default="ok")
    glucose = number(body, "glucose_mg_dl", minimum=None)
    return Reading(stored, glucose) if quality == "ok" else None


def glucose_series(
    records: Sequence[StoredRecord],
) -> tuple[list[Reading], list[Candidate]]:
    """Return the usable readings in chain order and a check_error per malformed one."""
    sensor = [s for s in records if s.kind is RecordType.SENSOR_READING]
    parsed, errors = parse_each(sensor, _parse)
    return [reading for _, reading in parsed if reading is not None], errors


def segments(readings: Sequence[Reading], max_gap: timedelta) -> list[list[Reading]]:
    """Split ``readings`` at gaps longer than ``max_gap`` and at backward time steps."""
    out: list[list[Reading]] = []
    for reading in readings:
        if out:
            step = reading.stored.time - out[-1][-1].stored.time
            if timedelta(0) <= step <= max_gap:
                out[-1].append(reading)
                continue
        out.append([reading])
    return out
