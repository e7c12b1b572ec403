"""Chain order and verification of a window: links, gaps, breaks, boots, inclusion."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from medwarden.errors import InputError, UsageError
from medwarden.telemetry.records import GENESIS, RecordType
from medwarden.telemetry.timeline import (
    BreakEntry,
    BreakKind,
    ChainStatus,
    GapEntry,
    LastContact,
    build_timeline,
)
from tests.telemetry.builders import T0
from tests.telemetry.timeline.chains import Chain, description, tamper


def _gaps(timeline):
    return [e for e in timeline.entries if isinstance(e, GapEntry)]


def _breaks(timeline):
    return [e for e in timeline.entries if isinstance(e, BreakEntry)]


def test_intact_chain_verifies_every_link_and_starts_at_genesis() -> None:
    chain = Chain()
    for n in range(3):
        chain.loop(n)
    timeline = build_timeline(reversed(chain.stored), description())
    v = timeline.verification
    assert v.status is ChainStatus.INTACT
    assert v.record_count == 12
    assert v.verified_links == 11
    assert v.starts_at_genesis
    assert v.breaks == ()
    assert v.gaps == ()
    assert [r.record.seq for r in timeline.records] == list(range(12))


def test_window_starting_mid_chain_is_intact_without_genesis() -> None:
    chain = Chain()
    for n in range(3):
        chain.loop(n)
    timeline = build_timeline(chain.stored[4:], description())
    assert timeline.verification.status is ChainStatus.INTACT
    assert not timeline.verification.starts_at_genesis
    assert timeline.verification.verified_links == 7


def test_missing_records_become_a_gap_entry_naming_the_range() -> None:
    chain = Chain()
    chain.reading()
    chain.reading()
    for _ in range(3):
        chain.reading(store=False)
    chain.reading()
    timeline = build_timeline(chain.stored, description())
    (gap,) = _gaps(timeline)
    assert (gap.boot_id, gap.first_seq, gap.last_seq) == ("boot-a", 2, 4)
    assert gap.after is not None
    assert gap.after.seq == 1
    assert gap.before is not None
    assert gap.before.seq == 5
    assert "2..4" in gap.detail
    assert timeline.verification.status is ChainStatus.INCOMPLETE
    # the gap sits between seq 1 and seq 5 in the entries
    kinds = [type(e).__name__ for e in timeline.entries]
    assert kinds.index("GapEntry") == 2


def test_wrong_prev_hash_is_reported_as_a_break() -> None:
    chain = Chain()
    chain.reading()
    chain.reading(prev_hash="ab" * 32)
    chain.reading()
    timeline = build_timeline(chain.stored, description())
    (brk,) = _breaks(timeline)
    assert brk.kind is BreakKind.PREV_HASH_MISMATCH
    assert brk.at.seq == 1
    assert brk.previous is not None
    assert brk.previous.seq == 0
    assert timeline.verification.status is ChainStatus.BROKEN
    assert timeline.verification.verified_links == 1


def test_altered_record_breaks_both_its_hash_and_the_next_link() -> None:
    chain = Chain()
    for _ in range(3):
        chain.reading()
    altered = tamper(chain.stored[1], body={"glucose_mg_dl": 400, "quality": "ok"})
    timeline = build_timeline([chain.stored[0], altered, chain.stored[2]], description())
    kinds = sorted(b.kind for b in _breaks(timeline))
    assert kinds == [BreakKind.HASH_MISMATCH, BreakKind.PREV_HASH_MISMATCH]
    assert {b.at.seq for b in _breaks(timeline)} == {1, 2}
    assert timeline.verification.status is ChainStatus.BROKEN


def test_genesis_claimed_after_earlier_records_is_a_break() -> None:
    chain = Chain()
    chain.reading()
    chain.reading(prev_hash=GENESIS)
    (brk,) = _breaks(build_timeline(chain.stored, description()))
    assert brk.kind is BreakKind.UNEXPECTED_GENESIS


def test_boots_follow_their_links_even_when_the_clock_was_reset() -> None:
    chain = Chain()
    chain.reading()
    chain.reading()
    chain.reboot("boot-b", clock=T0 - timedelta(days=365))  # device clock reset
    chain.event(RecordType.DEVICE_EVENT, {"event": "boot"})
    chain.reading()
    stored = list(chain.stored)
    # receipt order scrambled as well: the later boot reached the ledger first
    stored = [replace(s, ledger_index=10 - i) for i, s in enumerate(stored)]
    timeline = build_timeline(stored, description())
    assert timeline.verification.boots == ("boot-a", "boot-b")
    assert timeline.verification.status is ChainStatus.INTACT
    assert timeline.verification.verified_links == 3


def test_missing_end_of_a_boot_is_a_gap_of_unknown_length() -> None:
    chain = Chain()
    chain.reading()
    chain.reading(store=False)
    chain.reboot("boot-b")
    chain.reading()
    timeline = build_timeline(chain.stored, description())
    (gap,) = _gaps(timeline)
    assert (gap.boot_id, gap.first_seq, gap.last_seq) == ("boot-a", 1, None)
    assert "count unknown" in gap.detail
    assert timeline.verification.status is ChainStatus.INCOMPLETE


def test_missing_start_of_a_later_boot_is_a_gap_from_zero() -> None:
    chain = Chain()
    chain.reading()
    chain.reboot("boot-b")
    chain.reading(store=False)
    chain.reading(store=False)
    chain.reading()
    timeline = build_timeline(chain.stored, description())
    (gap,) = _gaps(timeline)
    assert (gap.boot_id, gap.first_seq, gap.last_seq) == ("boot-b", 0, 1)


def test_a_boot_naming_another_record_of_the_window_is_a_fork() -> None:
    chain = Chain()
    first = chain.reading()
    chain.reading()
    chain.reading()
    fork = Chain(seed=7, boot_id="boot-x", prev=first.record_hash, at=T0 + timedelta(hours=1))
    fork.ledger = 50
    fork.reading()
    timeline = build_timeline([*chain.stored, *fork.stored], description())
    (brk,) = _breaks(timeline)
    assert brk.kind is BreakKind.FORK
    assert brk.at.boot_id == "boot-x"


def test_unverified_inclusion_makes_the_window_incomplete() -> None:
    chain = Chain()
    chain.reading()
    chain.reading(inclusion_verified=False)
    v = build_timeline(chain.stored, description()).verification
    assert v.status is ChainStatus.INCOMPLETE
    assert [r.seq for r in v.inclusion_unverified] == [1]


def test_identical_duplicates_merge_and_conflicting_ones_are_refused() -> None:
    chain = Chain()
    chain.reading()
    chain.reading()
    twice = build_timeline([*chain.stored, *chain.stored], description())
    assert len(twice.records) == 2
    other = replace(chain.stored[1], ledger_index=99)
    with pytest.raises(InputError, match="two different stored records"):
        build_timeline([*chain.stored, other], description())


def test_records_of_another_device_are_refused() -> None:
    chain = Chain(device_id="pump-other")
    chain.reading()
    with pytest.raises(UsageError, match="pump-other"):
        build_timeline(chain.stored, description())


def test_empty_window_has_no_last_contact() -> None:
    timeline = build_timeline([], description())
    assert timeline.entries == ()
    assert timeline.last_contact is None
    assert timeline.verification.status is ChainStatus.EMPTY


def test_last_contact_ends_the_timeline_with_last_record_and_last_receipt() -> None:
    chain = Chain()
    chain.reading()
    last = chain.reading()
    late_receipt = replace(chain.stored[0], received_at=last.received_at + timedelta(hours=2))
    timeline = build_timeline([late_receipt, last], description())
    marker = timeline.entries[-1]
    assert isinstance(marker, LastContact)
    assert marker == timeline.last_contact
    assert marker.last_record == last.ref
    assert marker.last_device_time == last.record.device_time
    assert marker.last_received_at == late_receipt.received_at
