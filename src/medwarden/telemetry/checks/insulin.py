"""Insulin commanded over time: parsed commands and sliding-window totals.

Cumulative insulin is computed from ``actuator_command`` records, i.e. what the pump was
told to deliver (a rejected command still counts: the conservative choice for a safety
monitor).  A bolus counts its ``units`` at its device time.  A temp basal delivers
``rate_u_h`` from its device time until the earliest of its ``duration_min`` (capped at
``max_temp_basal_duration_min``), the next temp basal or ``suspend`` command, or a
``cancel_temp`` / ``suspend`` user override.  The scheduled basal outside temp basals is
not logged and not counted.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from medwarden.telemetry.checks.base import StoredRecord
from medwarden.telemetry.checks.body import choice, number, optional_number, text

__all__ = ["COMMAND_KINDS", "Command", "InsulinLedger", "parse_command", "parse_override"]

COMMAND_KINDS = frozenset({"temp_basal", "bolus", "suspend", "resume"})
_ENDS_TEMP_OVERRIDES = frozenset({"cancel_temp", "suspend"})


@dataclass(frozen=True, slots=True)
class Command:
    """An actuator command or user override as far as insulin is concerned."""

    stored: StoredRecord
    kind: str
    units: float | None = None
    rate_u_h: float | None = None
    duration_min: float | None = None

    @property
    def ends_temp(self) -> bool:
        """True when this command ends a running temp basal."""
        return self.kind in {"temp_basal", "suspend"} | _ENDS_TEMP_OVERRIDES


def parse_command(stored: StoredRecord) -> Command:
    """Read an ``actuator_command`` body (fails closed on the keys its kind needs)."""
    body = stored.record.body
    text(body, "command_id")
    kind = choice(body, "kind", COMMAND_KINDS)
    if kind == "bolus":
        return Command(stored, kind, units=number(body, "units"))
    if kind == "temp_basal":
        rate = number(body, "rate_u_h")
        duration = number(body, "duration_min")
        return Command(stored, kind, rate_u_h=rate, duration_min=duration)
    return Command(stored, kind)


def parse_override(stored: StoredRecord) -> Command:
    """Read a ``user_override`` body; a ``manual_bolus`` needs ``units``."""
    body = stored.record.body
    kind = text(body, "kind")
    if kind == "manual_bolus":
        return Command(stored, "override:" + kind, units=number(body, "units"))
    optional_number(body, "units")
    return Command(stored, "override:" + kind if kind not in _ENDS_TEMP_OVERRIDES else kind)


@dataclass(frozen=True, slots=True)
class _Segment:
    start: datetime
    end: datetime
    rate_u_h: float
    command: Command


class InsulinLedger:
    """Commanded insulin of a window of records, queried over sliding windows."""

    def __init__(self, commands: Sequence[Command], max_duration: timedelta) -> None:
        self._boluses = sorted(
            (c for c in commands if c.kind == "bolus" and c.units), key=lambda c: c.stored.time
        )
        self._bolus_times = [c.stored.time for c in self._boluses]
        self._segments = _segments(commands, max_duration)

    def total(self, start: datetime, end: datetime) -> float:
        """Units commanded in the half-open interval ``(start, end]``."""
        lo = bisect.bisect_right(self._bolus_times, start)
        hi = bisect.bisect_right(self._bolus_times, end)
        bolus = sum(c.units or 0.0 for c in self._boluses[lo:hi])
        return bolus + sum(_overlap_u(s, start, end) for s in self._segments)

    def contributors(self, start: datetime, end: datetime) -> list[StoredRecord]:
        """The commands that contribute insulin to ``(start, end]``, in time order."""
        lo = bisect.bisect_right(self._bolus_times, start)
        hi = bisect.bisect_right(self._bolus_times, end)
        found = [c.stored for c in self._boluses[lo:hi]]
        found += [s.command.stored for s in self._segments if _overlap_u(s, start, end) > 0]
        return sorted(found, key=lambda s: (s.time, s.record.seq))


def _overlap_u(segment: _Segment, start: datetime, end: datetime) -> float:
    lo, hi = max(segment.start, start), min(segment.end, end)
    if hi <= lo:
        return 0.0
    return segment.rate_u_h * (hi - lo).total_seconds() / 3600


def _segments(commands: Sequence[Command], max_duration: timedelta) -> list[_Segment]:
    enders = sorted(c.stored.time for c in commands if c.ends_temp)
    out: list[_Segment] = []
    for c in commands:
        if c.kind != "temp_basal" or not c.rate_u_h or not c.duration_min:
            continue
        start = c.stored.time
        end = start + min(timedelta(minutes=c.duration_min), max_duration)
        nxt = bisect.bisect_right(enders, start)
        if nxt < len(enders):
            end = min(end, enders[nxt])
        out.append(_Segment(start, end, c.rate_u_h, c))
    return out
