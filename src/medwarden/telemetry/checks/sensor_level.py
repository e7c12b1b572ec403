"""Sensor-quality detectors on single values and steps: range and rate of change.

* ``glucose_out_of_range`` -- a reading below ``glucose_min_mg_dl`` or above
  ``glucose_max_mg_dl`` (the CGM's reportable range); raised at the first reading of an
  excursion (the previous reading of the segment was not out of range on the same side).
* ``implausible_rate_of_change`` -- ``|dg/dt| > max_rate_mg_dl_min`` between consecutive
  readings of a segment; names both readings.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

from medwarden.telemetry.checks.base import Candidate, Severity
from medwarden.telemetry.checks.limits import DeviceLimits
from medwarden.telemetry.checks.series import Reading

__all__ = ["out_of_range", "rate_of_change"]


def _side(limits: DeviceLimits, glucose: float) -> int:
    if glucose < limits.glucose_min_mg_dl:
        return -1
    return 1 if glucose > limits.glucose_max_mg_dl else 0


def out_of_range(limits: DeviceLimits, segment: Sequence[Reading]) -> Iterator[Candidate]:
    """Yield the first reading of each out-of-range excursion in ``segment``."""
    previous = 0
    for reading in segment:
        side = _side(limits, reading.glucose)
        if side and side != previous:
            bound = limits.glucose_min_mg_dl if side < 0 else limits.glucose_max_mg_dl
            where = "below" if side < 0 else "above"
            yield Candidate(
                "glucose_out_of_range",
                Severity.HIGH,
                (reading.stored,),
                f"sensor glucose {reading.glucose:g} mg/dL is {where} the physiologic "
                f"range limit {bound:g} mg/dL",
                decided_by=reading.stored,
            )
        previous = side


def rate_of_change(limits: DeviceLimits, segment: Sequence[Reading]) -> Iterator[Candidate]:
    """Yield every step of ``segment`` faster than the plausible rate of change."""
    for prev, cur in itertools.pairwise(segment):
        minutes = (cur.stored.time - prev.stored.time).total_seconds() / 60
        if minutes <= 0:
            continue
        rate = (cur.glucose - prev.glucose) / minutes
        if abs(rate) > limits.max_rate_mg_dl_min:
            yield Candidate(
                "implausible_rate_of_change",
                Severity.MEDIUM,
                (prev.stored, cur.stored),
                f"glucose changes {rate:+.2f} mg/dL/min ({prev.glucose:g} -> "
                f"{cur.glucose:g} in {minutes:g} min; limit {limits.max_rate_mg_dl_min:g})",
                decided_by=cur.stored,
            )
