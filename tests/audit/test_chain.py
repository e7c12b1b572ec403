"""The hash chain: pinned hashing, and every alteration, deletion or move is named."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from medwarden.audit import (
    GENESIS,
    AuditEvent,
    ChainReport,
    Checkpoint,
    EventDraft,
    canonical_bytes,
    event_hash,
    seal,
    verify_chain,
)
from medwarden.audit.chain import rfc3339
from medwarden.core.digests import canonical_json
from medwarden.errors import UsageError, VerificationError
from tests.strategies_audit import FIELD_VALUES, chain_of, chains, drafts

DRAFT = EventDraft(
    at=datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC),
    actor="alice",
    action="triage.decide",
    subject_type="finding",
    subject_id="F-1",
    before={"status": "under_investigation"},
    after={"status": "not_affected", "justification": "code_not_reachable"},
    reason="vendor analysis",
)
CANONICAL = (
    b'{"action":"triage.decide","actor":"alice","after":{"justification":"code_not_reachable",'
    b'"status":"not_affected"},"at":"2026-11-25T12:00:00.123456Z","before":{"status":'
    b'"under_investigation"},"prev_hash":"' + b"0" * 64 + b'","reason":"vendor analysis",'
    b'"seq":1,"subject_id":"F-1","subject_type":"finding"}'
)


def _named(error: pytest.ExceptionInfo[VerificationError]) -> int:
    """The position a verification error names (its message starts ``audit event N``)."""
    match = re.match(r"audit event (\d+) ", error.value.message)
    assert match is not None, error.value.message
    return int(match.group(1))


def _differs(field: str, old: Any, new: Any) -> bool:
    if field in ("before", "after"):
        return canonical_json(old) != canonical_json(new)
    return bool(old != new)


def test_canonical_bytes_and_hash_are_pinned() -> None:
    """Hashing scheme v1: prefix, previous hash bytes, sorted compact JSON without ``hash``."""
    event = seal(DRAFT, 1, GENESIS)
    assert canonical_bytes(event) == CANONICAL
    expected = hashlib.sha256(b"medwarden-audit-v1\x00" + bytes(32) + CANONICAL).hexdigest()
    assert event.hash == expected
    assert event.hash == "1075a07a46c353c6be74ac4d8935e926231dc6200c641fe9c050746c77915af6"
    assert event_hash(event) == event.hash


def test_rfc3339_keeps_microseconds_and_pads_the_year() -> None:
    """Times are written in UTC with six fractional digits and a four-digit year."""
    assert rfc3339(datetime(5, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0005-01-02T03:04:05.000000Z"


def test_a_valid_chain_verifies_with_its_count_and_head() -> None:
    """An untouched chain verifies; the report gives its length and last hash."""
    events = chain_of([DRAFT, DRAFT, DRAFT])
    report = verify_chain(events)
    assert report == ChainReport(3, events[-1].hash)
    assert report.checkpoint == Checkpoint(3, events[-1].hash)
    assert not report.empty


def test_an_empty_chain_verifies_only_as_empty() -> None:
    """No events gives count 0 and the genesis head, never a count taken from elsewhere."""
    report = verify_chain([])
    assert report.empty
    assert (report.count, report.head) == (0, GENESIS)


def test_an_empty_chain_fails_a_checkpoint() -> None:
    """A trail emptied after a checkpoint was recorded is reported as truncated at event 1."""
    head = seal(DRAFT, 1, GENESIS).hash
    with pytest.raises(VerificationError, match="truncated") as info:
        verify_chain([], checkpoint=Checkpoint(1, head))
    assert _named(info) == 1


@given(chain=chains(), data=st.data())
def test_any_single_field_change_is_named(chain: list[AuditEvent], data: st.DataObject) -> None:
    """Changing any one field of any event fails verification at that event's position."""
    index = data.draw(st.integers(0, len(chain) - 1))
    field = data.draw(st.sampled_from(sorted(FIELD_VALUES)))
    value = data.draw(FIELD_VALUES[field])
    assume(_differs(field, getattr(chain[index], field), value))
    tampered = [*chain]
    tampered[index] = dataclasses.replace(chain[index], **{field: value})
    with pytest.raises(VerificationError) as info:
        verify_chain(tampered)
    assert _named(info) == index + 1


@given(chain=chains(), data=st.data())
def test_any_deletion_is_named(chain: list[AuditEvent], data: st.DataObject) -> None:
    """Deleting any event (the last one too, given a checkpoint) names the missing position."""
    index = data.draw(st.integers(0, len(chain) - 1))
    checkpoint = verify_chain(chain).checkpoint
    remaining = chain[:index] + chain[index + 1 :]
    with pytest.raises(VerificationError, match="missing") as info:
        verify_chain(remaining, checkpoint=checkpoint)
    assert _named(info) == index + 1


@given(chain=chains(min_size=2), data=st.data())
def test_any_swap_of_two_events_is_named(chain: list[AuditEvent], data: st.DataObject) -> None:
    """Swapping any two events fails verification at the earlier position."""
    i, j = sorted(
        data.draw(st.lists(st.integers(0, len(chain) - 1), min_size=2, max_size=2, unique=True))
    )
    swapped = [*chain]
    swapped[i], swapped[j] = chain[j], chain[i]
    with pytest.raises(VerificationError) as info:
        verify_chain(swapped)
    assert _named(info) == i + 1


@given(chain=chains(min_size=2), extra=drafts(), data=st.data())
def test_an_inserted_event_is_detected(
    chain: list[AuditEvent], extra: EventDraft, data: st.DataObject
) -> None:
    """A forged event sealed into the middle breaks the chain at or right after it."""
    index = data.draw(st.integers(1, len(chain) - 1))
    forged = seal(extra, index + 1, chain[index - 1].hash)
    inserted = [*chain[:index], forged, *chain[index:]]
    with pytest.raises(VerificationError) as info:
        verify_chain(inserted)
    assert _named(info) == index + 2


@given(chain=chains(), data=st.data())
def test_a_consistent_rewrite_is_caught_only_by_a_checkpoint(
    chain: list[AuditEvent], data: st.DataObject
) -> None:
    """Re-sealing the whole chain with one changed event passes alone but fails a checkpoint."""
    checkpoint = verify_chain(chain).checkpoint
    index = data.draw(st.integers(0, len(chain) - 1))
    items = [event.draft for event in chain]
    items[index] = dataclasses.replace(items[index], actor=items[index].actor + "x")
    rewritten = chain_of(items)
    assert verify_chain(rewritten).count == len(chain)
    with pytest.raises(VerificationError, match="checkpoint") as info:
        verify_chain(rewritten, checkpoint=checkpoint)
    assert _named(info) == len(chain)


def test_a_checkpoint_before_the_head_is_checked_at_its_event() -> None:
    """A checkpoint of an earlier head is compared with that event; later events may follow."""
    events = chain_of([DRAFT] * 4)
    assert verify_chain(events, checkpoint=Checkpoint(2, events[1].hash)).count == 4
    with pytest.raises(VerificationError, match="rewritten") as info:
        verify_chain(events, checkpoint=Checkpoint(2, events[2].hash))
    assert _named(info) == 2


def test_first_event_must_start_at_genesis() -> None:
    """A first event sealed after some other hash is not linked to the genesis."""
    with pytest.raises(VerificationError, match="genesis") as info:
        verify_chain([seal(DRAFT, 1, "f" * 64)])
    assert _named(info) == 1


def test_a_re_hashed_alteration_is_named_at_the_next_event() -> None:
    """An event altered and re-sealed in place breaks the link of its successor."""
    events = chain_of([DRAFT] * 3)
    forged = seal(dataclasses.replace(DRAFT, reason="forged"), 2, events[0].hash)
    with pytest.raises(VerificationError, match="not linked") as info:
        verify_chain([events[0], forged, events[2]])
    assert _named(info) == 3


def test_checkpoints_parse_and_print() -> None:
    """``COUNT:HASH`` round-trips; anything else is a usage error."""
    text = f"12:{'ab' * 32}"
    assert str(Checkpoint.parse(text)) == text
    assert Checkpoint.parse(f" 12:{'AB' * 32} ") == Checkpoint(12, "ab" * 32)
    for bad in ("12", "x:" + "a" * 64, "-1:" + "a" * 64, "3:abc", f"0:{'a' * 64}"):
        with pytest.raises(UsageError, match="checkpoint"):
            Checkpoint.parse(bad)


def _sealed(count: int) -> Iterator[AuditEvent]:
    prev = GENESIS
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for seq in range(1, count + 1):
        event = seal(dataclasses.replace(DRAFT, at=start + timedelta(seconds=seq)), seq, prev)
        prev = event.hash
        yield event


def test_verification_memory_does_not_grow_with_the_chain() -> None:
    """Verifying 10,000 streamed events holds only a few events in memory at once."""
    tracemalloc.start()
    try:
        report = verify_chain(_sealed(10_000))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.count == 10_000
    assert peak < 1_000_000
