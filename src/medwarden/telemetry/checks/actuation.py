"""Check 5: actuation limits (see :mod:`.insulin` for how insulin is counted).

* ``temp_basal_rate_exceeded`` -- a temp basal command above ``max_temp_basal_u_h``.
* ``temp_basal_duration_exceeded`` -- a temp basal longer than
  ``max_temp_basal_duration_min``.
* ``bolus_exceeded`` -- a bolus command or ``manual_bolus`` override above ``max_bolus_u``.
* ``cumulative_insulin_short`` / ``cumulative_insulin_long`` -- the insulin commanded in
  the sliding window ending at a record's device time first exceeds the window's maximum
  (it did not at the previous record); names every contributing command.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from medwarden.telemetry.checks.base import Candidate, CheckInput, Lookback, Severity
from medwarden.telemetry.checks.body import parse_each
from medwarden.telemetry.checks.insulin import Command, InsulinLedger, parse_command, parse_override
from medwarden.telemetry.checks.limits import DeviceLimits
from medwarden.telemetry.records import RecordType

__all__ = ["ActuationLimitsCheck"]

_PARSERS = {
    RecordType.ACTUATOR_COMMAND: parse_command,
    RecordType.USER_OVERRIDE: parse_override,
}
_WINDOWS = (
    ("cumulative_insulin_short", "insulin_short_window_min", "max_insulin_short_u"),
    ("cumulative_insulin_long", "insulin_long_window_min", "max_insulin_long_u"),
)


@dataclass(frozen=True, slots=True)
class ActuationLimitsCheck:
    """Single-dose, rate and cumulative insulin limits."""

    check_id: str = "actuation_limits"

    def lookback(self, limits: DeviceLimits) -> Lookback:
        """The longest window, the longest temp basal and the usual record interval.

        The record interval (``stale_after_min``) covers the window of the record before
        the batch, which decides whether a new record *first* exceeds a maximum.
        """
        window = max(limits.insulin_short_window_min, limits.insulin_long_window_min)
        span = timedelta(minutes=window) + limits.minutes("max_temp_basal_duration_min")
        return Lookback(records=1, duration=span + limits.minutes("stale_after_min"))

    def evaluate(self, data: CheckInput) -> Iterator[Candidate]:
        """Yield check errors, per-command limit breaches and window crossings."""
        relevant = [s for s in data.records if s.kind in _PARSERS]
        parsed, errors = parse_each(relevant, lambda s: _PARSERS[s.kind](s))
        yield from errors
        commands = [c for _, c in parsed]
        for command in commands:
            yield from _single(data.limits, command)
        ledger = InsulinLedger(commands, data.limits.minutes("max_temp_basal_duration_min"))
        for code, window, maximum in _WINDOWS:
            yield from _crossings(data, ledger, code, window, maximum)


def _single(limits: DeviceLimits, c: Command) -> Iterator[Candidate]:
    if c.rate_u_h is not None and c.rate_u_h > limits.max_temp_basal_u_h:
        yield _breach(
            c,
            "temp_basal_rate_exceeded",
            Severity.HIGH,
            f"temp basal {c.rate_u_h:g} U/h exceeds {limits.max_temp_basal_u_h:g} U/h",
        )
    if c.duration_min is not None and c.duration_min > limits.max_temp_basal_duration_min:
        yield _breach(
            c,
            "temp_basal_duration_exceeded",
            Severity.MEDIUM,
            f"temp basal of {c.duration_min:g} min exceeds "
            f"{limits.max_temp_basal_duration_min:g} min",
        )
    if c.units is not None and c.units > limits.max_bolus_u:
        yield _breach(
            c,
            "bolus_exceeded",
            Severity.HIGH,
            f"bolus of {c.units:g} U exceeds {limits.max_bolus_u:g} U",
        )


def _breach(c: Command, code: str, severity: Severity, detail: str) -> Candidate:
    return Candidate(code, severity, (c.stored,), detail, decided_by=c.stored)


def _crossings(
    data: CheckInput, ledger: InsulinLedger, code: str, window_key: str, max_key: str
) -> Iterator[Candidate]:
    window = data.limits.minutes(window_key)
    maximum = float(getattr(data.limits, max_key))
    was_over = False
    for stored in data.records:
        end = stored.time
        total = ledger.total(end - window, end)
        over = total > maximum
        if over and not was_over:
            named = {s.record_hash: s for s in (*ledger.contributors(end - window, end), stored)}
            yield Candidate(
                code,
                Severity.HIGH,
                tuple(named.values()),
                f"{total:.3f} U commanded in the {getattr(data.limits, window_key):g} min "
                f"ending at this record exceeds {maximum:g} U",
                decided_by=stored,
            )
        was_over = over
