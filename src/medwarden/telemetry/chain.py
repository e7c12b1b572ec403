"""Per-device chain state machine: classify each arriving record, pure and without I/O.

:func:`check_next` takes the device's :class:`ChainState` (``None`` before its first
record), a record whose signature has already been verified, the receipt time and the
allowed clock window, and returns a :class:`Verdict`: the :class:`Outcome`, the new
state and the :class:`Finding` objects (security events) to record.

Outcomes:

* ``accepted`` -- the next record of the current boot, linked by ``prev_hash``.
* ``new_boot`` -- a boot id not seen before; its seq 0 links to the last accepted
  record (a new boot starting above seq 0 is accepted with a ``gap`` finding).
* ``gap`` -- a sequence jump; accepted, the missing range is remembered and reported.
* ``reorder`` -- a late record that fills a remembered gap; accepted when its links to
  the gap's neighbours (where known) hold.
* ``duplicate`` -- the same record (same hash) as one accepted recently: an idempotent
  retry, not a security event; answer it with the original receipt.
* ``replay`` -- an older or reused (boot, seq) with a different hash or outside any gap.
* ``broken_link`` -- ``prev_hash`` does not name the predecessor; refused.

Independently, any non-duplicate record is flagged ``clock_outside_window`` when
``|device_time - received_at| > window`` and ``time_backwards`` when an in-order record
is older than the last accepted one.  Clock findings do not refuse a record.

Memory is bounded: the state keeps the last :data:`RECENT_LIMIT` accepted hashes (older
retries are answered by the store's index before this check) and at most
:data:`GAP_LIMIT` open gaps (the oldest is forgotten; a record for it then counts as a
replay).  No two accepted records ever share a (boot id, seq).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from medwarden.errors import UsageError
from medwarden.telemetry.envelope import record_hash
from medwarden.telemetry.records import GENESIS, DeviceRecord

__all__ = [
    "GAP_LIMIT",
    "RECENT_LIMIT",
    "ChainState",
    "Finding",
    "FindingKind",
    "Gap",
    "Outcome",
    "Verdict",
    "check_next",
]

RECENT_LIMIT = 256
GAP_LIMIT = 64


class Outcome(StrEnum):
    """How an arriving record was classified."""

    ACCEPTED = "accepted"
    NEW_BOOT = "new_boot"
    GAP = "gap"
    REORDER = "reorder"
    DUPLICATE = "duplicate"
    REPLAY = "replay"
    BROKEN_LINK = "broken_link"

    @property
    def accepted(self) -> bool:
        """True when the record joins the device's chain."""
        return self in _ACCEPTING


_ACCEPTING = frozenset({Outcome.ACCEPTED, Outcome.NEW_BOOT, Outcome.GAP, Outcome.REORDER})


class FindingKind(StrEnum):
    """A security event about a device's chain."""

    GAP = "gap"
    REORDER = "reorder"
    NEW_BOOT = "new_boot"
    REPLAY = "replay"
    BROKEN_LINK = "broken_link"
    CLOCK_OUTSIDE_WINDOW = "clock_outside_window"
    TIME_BACKWARDS = "time_backwards"


@dataclass(frozen=True, slots=True)
class Finding:
    """One security event, naming the record that raised it."""

    kind: FindingKind
    device_id: str
    boot_id: str
    seq: int
    record_hash: str
    detail: str
    missing: tuple[int, int] | None = None
    """For gaps: the inclusive range of missing sequence numbers."""


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing seqs ``lo..hi`` of a boot; the hashes that bound them, where known."""

    boot_id: str
    lo: int
    hi: int
    before_hash: str | None
    """Hash of record ``lo - 1`` (what record ``lo`` must name), if known."""
    after_prev_hash: str | None
    """``prev_hash`` of record ``hi + 1`` (what record ``hi`` must hash to), if known."""


@dataclass(frozen=True, slots=True)
class ChainState:
    """What the backend knows of one device's chain after the records accepted so far."""

    device_id: str
    boot_id: str
    seq: int
    hash: str
    device_time: datetime
    boots: frozenset[str]
    recent: tuple[tuple[str, int, str], ...] = ()
    """(boot id, seq, hash) of the last accepted records, oldest first."""
    gaps: tuple[Gap, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The classification of one record, the state after it and its findings."""

    outcome: Outcome
    record_hash: str
    state: ChainState | None
    findings: tuple[Finding, ...]

    @property
    def accepted(self) -> bool:
        """True when the record joins the device's chain."""
        return self.outcome.accepted


def check_next(
    state: ChainState | None,
    record: DeviceRecord,
    *,
    received_at: datetime,
    window: timedelta,
    known_hash: str | None = None,
) -> Verdict:
    """Classify ``record`` against ``state`` (see the module docstring); pure.

    ``known_hash`` is the record's :func:`record_hash` when the caller has it already."""
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise UsageError("received_at must be a timezone-aware datetime")
    if window <= timedelta(0):
        raise UsageError(f"the clock window must be positive, not {window}")
    if state is not None and state.device_id != record.device_id:
        raise UsageError(
            f"record of device {record.device_id} checked against the chain of {state.device_id}"
        )
    h = known_hash if known_hash is not None else record_hash(record)
    ctx = _Context(record, h)
    if abs(record.device_time - received_at) > window:
        ctx.add(
            FindingKind.CLOCK_OUTSIDE_WINDOW,
            f"device time {record.device_time.isoformat()} is more than {window} from "
            f"receipt at {received_at.isoformat()}",
        )
    if state is None:
        return _first(ctx)
    if record.boot_id == state.boot_id and record.seq > state.seq:
        # past the head of its boot: no accepted record can hold this seq yet
        return _in_order(ctx, state)
    if any(b == record.boot_id and s == record.seq for b, s, _ in state.recent):
        if (record.boot_id, record.seq, h) in state.recent:
            return Verdict(Outcome.DUPLICATE, h, state, ())
        return _replay(ctx, state, "a different record was already accepted at this seq")
    if record.boot_id not in state.boots:
        return _new_boot(ctx, state)
    return _late(ctx, state)


class _Context:
    def __init__(self, record: DeviceRecord, h: str) -> None:
        self.record = record
        self.hash = h
        self.findings: list[Finding] = []

    def add(self, kind: FindingKind, detail: str, missing: tuple[int, int] | None = None) -> None:
        r = self.record
        self.findings.append(
            Finding(kind, r.device_id, r.boot_id, r.seq, self.hash, detail, missing)
        )

    def verdict(self, outcome: Outcome, state: ChainState | None) -> Verdict:
        return Verdict(outcome, self.hash, state, tuple(self.findings))


def _advance(state: ChainState, ctx: _Context, gaps: tuple[Gap, ...]) -> ChainState:
    r = ctx.record
    recent = (*state.recent, (r.boot_id, r.seq, ctx.hash))[-RECENT_LIMIT:]
    boots = state.boots if r.boot_id in state.boots else state.boots | {r.boot_id}
    # built directly rather than with dataclasses.replace: this runs once per record
    return ChainState(
        state.device_id,
        r.boot_id,
        r.seq,
        ctx.hash,
        r.device_time,
        boots,
        recent,
        gaps[-GAP_LIMIT:],
    )


def _gap_finding(ctx: _Context, lo: int, hi: int) -> None:
    ctx.add(
        FindingKind.GAP, f"records {lo}..{hi} of boot {ctx.record.boot_id} are missing", (lo, hi)
    )


def _first(ctx: _Context) -> Verdict:
    r = ctx.record
    gaps: tuple[Gap, ...] = ()
    if r.seq == 0:
        if r.prev_hash != GENESIS:
            ctx.add(FindingKind.BROKEN_LINK, "the first record of a device must name GENESIS")
            return ctx.verdict(Outcome.BROKEN_LINK, None)
        outcome = Outcome.ACCEPTED
    else:
        _gap_finding(ctx, 0, r.seq - 1)
        gaps = (Gap(r.boot_id, 0, r.seq - 1, None, r.prev_hash),)
        outcome = Outcome.GAP
    state = ChainState(
        device_id=r.device_id,
        boot_id=r.boot_id,
        seq=r.seq,
        hash=ctx.hash,
        device_time=r.device_time,
        boots=frozenset({r.boot_id}),
        recent=((r.boot_id, r.seq, ctx.hash),),
        gaps=gaps,
    )
    return ctx.verdict(outcome, state)


def _check_time(ctx: _Context, state: ChainState) -> None:
    if ctx.record.device_time < state.device_time:
        ctx.add(
            FindingKind.TIME_BACKWARDS,
            f"device time {ctx.record.device_time.isoformat()} is before the previous "
            f"record's {state.device_time.isoformat()}",
        )


def _in_order(ctx: _Context, state: ChainState) -> Verdict:
    r = ctx.record
    if r.seq == state.seq + 1:
        if r.prev_hash != state.hash:
            ctx.add(FindingKind.BROKEN_LINK, f"prev_hash does not name record {state.seq}")
            return ctx.verdict(Outcome.BROKEN_LINK, state)
        _check_time(ctx, state)
        return ctx.verdict(Outcome.ACCEPTED, _advance(state, ctx, state.gaps))
    lo, hi = state.seq + 1, r.seq - 1
    _gap_finding(ctx, lo, hi)
    _check_time(ctx, state)
    gap = Gap(r.boot_id, lo, hi, state.hash, r.prev_hash)
    return ctx.verdict(Outcome.GAP, _advance(state, ctx, (*state.gaps, gap)))


def _new_boot(ctx: _Context, state: ChainState) -> Verdict:
    r = ctx.record
    if r.seq == 0:
        if r.prev_hash != state.hash:
            ctx.add(
                FindingKind.BROKEN_LINK,
                f"new boot {r.boot_id} does not link to the last record of boot {state.boot_id}",
            )
            return ctx.verdict(Outcome.BROKEN_LINK, state)
        ctx.add(FindingKind.NEW_BOOT, f"device rebooted: boot {state.boot_id} -> {r.boot_id}")
        _check_time(ctx, state)
        return ctx.verdict(Outcome.NEW_BOOT, _advance(state, ctx, state.gaps))
    ctx.add(FindingKind.NEW_BOOT, f"device rebooted: boot {state.boot_id} -> {r.boot_id}")
    _gap_finding(ctx, 0, r.seq - 1)
    _check_time(ctx, state)
    gap = Gap(r.boot_id, 0, r.seq - 1, state.hash, r.prev_hash)
    return ctx.verdict(Outcome.GAP, _advance(state, ctx, (*state.gaps, gap)))


def _late(ctx: _Context, state: ChainState) -> Verdict:
    """A record at or before the head of a known boot: fills a gap, or is a replay."""
    r = ctx.record
    for index, gap in enumerate(state.gaps):
        if gap.boot_id != r.boot_id or not gap.lo <= r.seq <= gap.hi:
            continue
        if r.seq == gap.lo and gap.before_hash is not None and r.prev_hash != gap.before_hash:
            ctx.add(FindingKind.BROKEN_LINK, f"late record does not link to record {r.seq - 1}")
            return ctx.verdict(Outcome.BROKEN_LINK, state)
        if r.seq == gap.hi and gap.after_prev_hash is not None and ctx.hash != gap.after_prev_hash:
            ctx.add(FindingKind.BROKEN_LINK, f"record {r.seq + 1} does not name this late record")
            return ctx.verdict(Outcome.BROKEN_LINK, state)
        if r.seq == 0 and gap.before_hash is None and r.prev_hash != GENESIS:
            ctx.add(FindingKind.BROKEN_LINK, "the first record of a device must name GENESIS")
            return ctx.verdict(Outcome.BROKEN_LINK, state)
        parts: list[Gap] = []
        if gap.lo < r.seq:
            parts.append(replace(gap, hi=r.seq - 1, after_prev_hash=r.prev_hash))
        if r.seq < gap.hi:
            parts.append(replace(gap, lo=r.seq + 1, before_hash=ctx.hash))
        gaps = (*state.gaps[:index], *parts, *state.gaps[index + 1 :])
        recent = (*state.recent, (r.boot_id, r.seq, ctx.hash))[-RECENT_LIMIT:]
        ctx.add(FindingKind.REORDER, f"record {r.seq} arrived after later records of its boot")
        return ctx.verdict(Outcome.REORDER, replace(state, recent=recent, gaps=gaps))
    return _replay(ctx, state, "seq is at or before the chain head and fills no known gap")


def _replay(ctx: _Context, state: ChainState, why: str) -> Verdict:
    ctx.add(FindingKind.REPLAY, f"replayed or conflicting record: {why}")
    return ctx.verdict(Outcome.REPLAY, state)
