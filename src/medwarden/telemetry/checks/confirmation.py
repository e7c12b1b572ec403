"""Check 6: actuator commands and their confirmations.

* ``command_unconfirmed`` -- no ``actuator_confirmation`` with the command's
  ``command_id`` and a device time within ``confirmation_latency_min`` of the command.
  Judged only once the latency has elapsed: decided by the first later record whose
  device time is past the deadline, or due (server clock) ``confirmation_latency_min``
  after the command was received, whichever comes first.  Names the command.
* ``confirmation_without_command`` -- a confirmation with no command of the same
  ``command_id`` earlier in the chain within ``command_match_window_min``.
* ``dose_mismatch`` -- a ``delivered`` confirmation whose ``delivered_u`` (bolus) or
  ``rate_u_h`` (temp basal) differs from the command by more than the tolerance: the
  dose the pump reports is not the dose that was signed as commanded.
* ``duplicate_command_id`` -- a command reusing the ``command_id`` of an earlier one
  within the match window (ids are unique per device).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from medwarden.telemetry.checks.base import Candidate, CheckInput, Lookback, Severity, StoredRecord
from medwarden.telemetry.checks.body import BodyError, check_error, choice, number, parse_each, text
from medwarden.telemetry.checks.insulin import Command, parse_command
from medwarden.telemetry.checks.limits import DeviceLimits
from medwarden.telemetry.records import RecordType

__all__ = ["CommandConfirmationCheck"]

_STATUSES = frozenset({"delivered", "failed", "rejected"})


@dataclass(frozen=True, slots=True)
class _Confirmation:
    stored: StoredRecord
    command_id: str
    status: str


@dataclass(frozen=True, slots=True)
class _Entry:
    index: int
    command_id: str
    command: Command | None = None
    confirmation: _Confirmation | None = None


def _parse(stored: StoredRecord) -> tuple[str, Command | _Confirmation]:
    body = stored.record.body
    if stored.kind is RecordType.ACTUATOR_COMMAND:
        return text(body, "command_id"), parse_command(stored)
    command_id = text(body, "command_id")
    return command_id, _Confirmation(stored, command_id, choice(body, "status", _STATUSES))


@dataclass(frozen=True, slots=True)
class CommandConfirmationCheck:
    """Every command confirmed in time, every confirmation commanded, doses matching."""

    check_id: str = "command_confirmation"

    def lookback(self, limits: DeviceLimits) -> Lookback:
        """The match window (at least the latency) and the latest earlier command."""
        window = max(limits.command_match_window_min, limits.confirmation_latency_min)
        return Lookback(
            records=1,
            duration=timedelta(minutes=window),
            last_of=frozenset({RecordType.ACTUATOR_COMMAND}),
        )

    def evaluate(self, data: CheckInput) -> Iterator[Candidate]:
        """Yield check errors, unconfirmed commands and confirmation problems."""
        entries, errors = _entries(data.records)
        yield from errors
        for entry in entries:
            if entry.command is not None:
                yield from _command(data, entries, entry, entry.command)
            elif entry.confirmation is not None:
                yield from _confirmation(data, entries, entry, entry.confirmation)


def _entries(records: Sequence[StoredRecord]) -> tuple[list[_Entry], list[Candidate]]:
    kinds = {RecordType.ACTUATOR_COMMAND, RecordType.ACTUATOR_CONFIRMATION}
    positions = {s.record_hash: i for i, s in enumerate(records)}
    parsed, errors = parse_each([s for s in records if s.kind in kinds], _parse)
    entries = []
    for stored, (command_id, value) in parsed:
        index = positions[stored.record_hash]
        if isinstance(value, Command):
            entries.append(_Entry(index, command_id, command=value))
        else:
            entries.append(_Entry(index, command_id, confirmation=value))
    return entries, errors


def _earlier_command(
    data: CheckInput, entries: Sequence[_Entry], entry: _Entry, stored: StoredRecord
) -> Command | None:
    """The latest command before ``entry`` with the same id within the match window."""
    window = data.limits.minutes("command_match_window_min")
    for other in reversed(entries):
        command = other.command
        if other.index >= entry.index or command is None or other.command_id != entry.command_id:
            continue
        if stored.time - command.stored.time <= window:
            return command
    return None


def _command(
    data: CheckInput, entries: Sequence[_Entry], entry: _Entry, command: Command
) -> Iterator[Candidate]:
    earlier = _earlier_command(data, entries, entry, command.stored)
    if earlier is not None:
        yield Candidate(
            "duplicate_command_id",
            Severity.HIGH,
            (earlier.stored, command.stored),
            f"command_id {entry.command_id!r} was already used by an earlier command",
            decided_by=command.stored,
        )
    if not _confirmed_in_time(data, entries, entry, command):
        yield _unconfirmed(data, entry, command)


def _confirmed_in_time(
    data: CheckInput, entries: Sequence[_Entry], entry: _Entry, command: Command
) -> bool:
    deadline = command.stored.time + data.limits.minutes("confirmation_latency_min")
    return any(
        other.index > entry.index
        and other.confirmation is not None
        and other.command_id == entry.command_id
        and other.confirmation.stored.time <= deadline
        for other in entries
    )


def _unconfirmed(data: CheckInput, entry: _Entry, command: Command) -> Candidate:
    latency = data.limits.minutes("confirmation_latency_min")
    deadline = command.stored.time + latency
    decider = next((s for s in data.after(entry.index) if s.time > deadline), None)
    return Candidate(
        "command_unconfirmed",
        Severity.HIGH,
        (command.stored,),
        f"no actuator_confirmation of command_id {entry.command_id!r} within "
        f"{data.limits.confirmation_latency_min:g} min",
        decided_by=decider,
        due=command.stored.received_at + latency,
    )


def _confirmation(
    data: CheckInput, entries: Sequence[_Entry], entry: _Entry, conf: _Confirmation
) -> Iterator[Candidate]:
    command = _earlier_command(data, entries, entry, conf.stored)
    if command is None:
        yield Candidate(
            "confirmation_without_command",
            Severity.CRITICAL,
            (conf.stored,),
            f"confirmation of command_id {conf.command_id!r} has no command within "
            f"{data.limits.command_match_window_min:g} min before it",
            decided_by=conf.stored,
        )
    elif conf.status == "delivered":
        yield from _compare(data.limits, command, conf)


def _expected(limits: DeviceLimits, command: Command) -> tuple[str, float, str, float] | None:
    """(confirmation key, commanded value, unit, tolerance) for a dose-carrying command."""
    if command.units is not None:
        return "delivered_u", command.units, "U", limits.dose_tolerance_u
    if command.rate_u_h is not None:
        return "rate_u_h", command.rate_u_h, "U/h", limits.rate_tolerance_u_h
    return None


def _compare(limits: DeviceLimits, command: Command, conf: _Confirmation) -> Iterator[Candidate]:
    expected = _expected(limits, command)
    if expected is None:
        return
    key, want, unit, tolerance = expected
    try:
        got = number(conf.stored.record.body, key)
    except BodyError as exc:
        yield check_error(conf.stored, exc.message)
        return
    if abs(got - want) > tolerance:
        yield Candidate(
            "dose_mismatch",
            Severity.CRITICAL,
            (command.stored, conf.stored),
            f"confirmed {got:g} {unit} but the command asked for {want:g} {unit}",
            decided_by=conf.stored,
        )
