"""Chain order of a window's records and the verification of its links.

Order: boots as they occurred, then ``seq``.  A boot follows another when its seq-0 record
names (``prev_hash``) the last record of that boot in the window; boots not linked so are
ordered by the smallest ledger index of their records (the backend's own receipt order,
which a reset device clock cannot disturb), then by boot id.  Nothing depends on the order
the records were handed in.

Verification walks that order and checks every link it can: the next seq of a boot must
name its predecessor's hash; a boot's seq 0 must name the last record of the boot before.
Seq jumps become gap entries (the missing range), and a broken link, a stored hash that is
not the record's hash, a genesis claim after the first record, or a seq 0 naming some
other record of the window (a fork) become break entries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from medwarden.errors import InputError, UsageError
from medwarden.telemetry.envelope import record_hash
from medwarden.telemetry.timeline.model import (
    BreakEntry,
    BreakKind,
    ChainStatus,
    ChainVerification,
    GapEntry,
    TimelineRecord,
)

__all__ = ["OrderedWindow", "order_window", "verify_chain"]

Key = tuple[str, int]


@dataclass(frozen=True, slots=True)
class OrderedWindow:
    """The window's records in chain order, with each record's recomputed hash."""

    records: tuple[TimelineRecord, ...]
    boots: tuple[str, ...]
    rank: dict[str, int]
    """Position of each boot in :attr:`boots`."""
    hashes: dict[Key, str]
    """Recomputed hash of each record, by (boot id, seq)."""
    by_key: dict[Key, TimelineRecord]
    """Each record by (boot id, seq)."""

    def position(self, boot_id: str, seq: int) -> tuple[int, int]:
        """Sort key of a (boot, seq) in chain order."""
        return (self.rank[boot_id], seq)


def _dedupe(records: Iterable[TimelineRecord], device_id: str) -> dict[Key, TimelineRecord]:
    out: dict[Key, TimelineRecord] = {}
    for item in records:
        if not isinstance(item, TimelineRecord):
            raise InputError(f"timeline input must be TimelineRecord, not {type(item).__name__}")
        r = item.record
        if r.device_id != device_id:
            raise UsageError(
                f"record of device {r.device_id} given for the timeline of {device_id}"
            )
        key = (r.boot_id, r.seq)
        seen = out.get(key)
        if seen is not None and seen != item:
            raise InputError(
                f"two different stored records claim {r.device_id}/{r.boot_id}/{r.seq}",
                hint="the store never accepts two records at one (boot, seq); check its integrity",
            )
        out[key] = item
    return out


def _boot_order(by_boot: dict[str, list[TimelineRecord]], hashes: dict[Key, str]) -> list[str]:
    def key(boot: str) -> tuple[int, str]:
        return (min(r.ledger_index for r in by_boot[boot]), boot)

    last_of = {hashes[(b, recs[-1].record.seq)]: b for b, recs in by_boot.items()}
    claims: dict[str, list[str]] = defaultdict(list)
    for boot, recs in by_boot.items():
        first = recs[0].record
        owner = last_of.get(first.prev_hash) if first.seq == 0 else None
        if owner is not None and owner != boot:
            claims[owner].append(boot)
    succ = {owner: min(boots, key=key) for owner, boots in claims.items()}
    has_pred = set(succ.values())
    heads = sorted((b for b in by_boot if b not in has_pred), key=key)
    order: list[str] = []
    seen: set[str] = set()
    for head in [*heads, *sorted(by_boot, key=key)]:
        step: str | None = head
        while step is not None and step not in seen:
            seen.add(step)
            order.append(step)
            step = succ.get(step)
    return order


def order_window(records: Iterable[TimelineRecord], device_id: str) -> OrderedWindow:
    """Deduplicate, check and sort ``records`` into chain order (see the module docstring)."""
    unique = _dedupe(records, device_id)
    hashes = {key: record_hash(item.record) for key, item in unique.items()}
    by_boot: dict[str, list[TimelineRecord]] = defaultdict(list)
    for key in sorted(unique):
        by_boot[key[0]].append(unique[key])
    boots = _boot_order(by_boot, hashes)
    ordered = tuple(item for boot in boots for item in by_boot[boot])
    rank = {b: i for i, b in enumerate(boots)}
    return OrderedWindow(ordered, tuple(boots), rank, hashes, unique)


class _Walk:
    """Accumulates the verification while walking the records in chain order."""

    def __init__(self, window: OrderedWindow) -> None:
        self.window = window
        self.all_hashes = set(window.hashes.values())
        self.breaks: list[BreakEntry] = []
        self.gaps: list[GapEntry] = []
        self.verified = 0

    def hash_of(self, item: TimelineRecord) -> str:
        return self.window.hashes[(item.record.boot_id, item.record.seq)]

    def brk(
        self, kind: BreakKind, item: TimelineRecord, prev: TimelineRecord | None, why: str
    ) -> None:
        self.breaks.append(BreakEntry(kind, item.ref, prev.ref if prev else None, why))

    def gap(
        self,
        boot: str,
        lo: int,
        hi: int | None,
        prev: TimelineRecord,
        item: TimelineRecord,
        why: str,
    ) -> None:
        self.gaps.append(GapEntry(boot, lo, hi, prev.ref, item.ref, why))

    def link(self, prev: TimelineRecord, item: TimelineRecord) -> None:
        """Check that ``item`` names ``prev``; count it or report the break."""
        r = item.record
        if r.prev_hash == self.hash_of(prev):
            self.verified += 1
        elif r.is_genesis:
            self.brk(
                BreakKind.UNEXPECTED_GENESIS, item, prev, "names GENESIS after earlier records"
            )
        elif r.prev_hash in self.all_hashes:
            self.brk(
                BreakKind.FORK,
                item,
                prev,
                "names another record of the window than its predecessor",
            )
        else:
            self.brk(
                BreakKind.PREV_HASH_MISMATCH,
                item,
                prev,
                f"prev_hash does not name {prev.record.boot_id}/{prev.record.seq}",
            )

    def step(self, prev: TimelineRecord, item: TimelineRecord) -> None:
        """Check the link from ``prev`` to ``item`` or report the gap between them."""
        p, r = prev.record, item.record
        same = p.boot_id == r.boot_id
        names_known = r.is_genesis or r.prev_hash in self.all_hashes
        if (same and r.seq == p.seq + 1) or (not same and r.seq == 0 and names_known):
            self.link(prev, item)
            return
        if same:
            why = f"records {p.seq + 1}..{r.seq - 1} of boot {r.boot_id} are missing"
            self.gap(r.boot_id, p.seq + 1, r.seq - 1, prev, item, why)
        elif r.seq == 0:
            why = (
                f"boot {r.boot_id} names a record not in the window: the end of boot "
                f"{p.boot_id} after seq {p.seq} is missing (count unknown)"
            )
            self.gap(p.boot_id, p.seq + 1, None, prev, item, why)
        else:
            why = (
                f"records 0..{r.seq - 1} of boot {r.boot_id} are missing; its link to "
                f"boot {p.boot_id} cannot be checked"
            )
            self.gap(r.boot_id, 0, r.seq - 1, prev, item, why)
        if r.is_genesis:
            self.brk(
                BreakKind.UNEXPECTED_GENESIS, item, prev, "names GENESIS after earlier records"
            )


def verify_chain(window: OrderedWindow) -> ChainVerification:
    """Check every link of the window that can be checked (see the module docstring)."""
    walk = _Walk(window)
    prev: TimelineRecord | None = None
    for item in window.records:
        if walk.hash_of(item) != item.record_hash:
            walk.brk(
                BreakKind.HASH_MISMATCH, item, None, "the stored hash is not the record's hash"
            )
        if prev is None:
            if item.record.is_genesis and item.record.seq != 0:
                walk.brk(BreakKind.UNEXPECTED_GENESIS, item, None, "names GENESIS at a seq above 0")
        else:
            walk.step(prev, item)
        prev = item
    first = window.records[0].record if window.records else None
    unverified = tuple(i.ref for i in window.records if not i.inclusion_verified)
    if not window.records:
        status = ChainStatus.EMPTY
    elif walk.breaks:
        status = ChainStatus.BROKEN
    elif walk.gaps or unverified:
        status = ChainStatus.INCOMPLETE
    else:
        status = ChainStatus.INTACT
    return ChainVerification(
        status=status,
        record_count=len(window.records),
        verified_links=walk.verified,
        breaks=tuple(walk.breaks),
        gaps=tuple(walk.gaps),
        inclusion_unverified=unverified,
        starts_at_genesis=first is not None and first.seq == 0 and first.is_genesis,
        boots=window.boots,
    )
