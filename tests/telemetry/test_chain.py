"""The per-device chain state machine: one explicit example per outcome, then properties."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medwarden.errors import UsageError
from medwarden.telemetry.chain import (
    GAP_LIMIT,
    ChainState,
    FindingKind,
    Outcome,
    Verdict,
    check_next,
)
from medwarden.telemetry.envelope import record_hash
from medwarden.telemetry.records import DeviceRecord
from tests.telemetry.builders import T0, make_chain, make_record

WINDOW = timedelta(minutes=10)


def _run(records: list[DeviceRecord]) -> tuple[ChainState | None, list[Verdict]]:
    state: ChainState | None = None
    verdicts = []
    for rec in records:
        v = check_next(state, rec, received_at=rec.device_time, window=WINDOW)
        verdicts.append(v)
        state = v.state
    return state, verdicts


def _kinds(v: Verdict) -> set[FindingKind]:
    return {f.kind for f in v.findings}


def test_clean_chain_is_accepted_without_findings() -> None:
    state, verdicts = _run(make_chain(5))
    assert [v.outcome for v in verdicts] == [Outcome.ACCEPTED] * 5
    assert all(v.findings == () for v in verdicts)
    assert state is not None
    assert state.seq == 4


def test_duplicate_is_idempotent() -> None:
    chain = make_chain(3)
    state, _ = _run(chain)
    v = check_next(state, chain[1], received_at=T0, window=WINDOW)
    assert v.outcome is Outcome.DUPLICATE
    assert not v.accepted
    assert v.findings == ()
    assert v.state is state
    assert v.record_hash == record_hash(chain[1])


def test_replay_of_older_seq_with_different_content() -> None:
    chain = make_chain(3)
    state, _ = _run(chain)
    forged = dataclasses.replace(chain[1], body={"glucose_mg_dl": 40})
    v = check_next(state, forged, received_at=T0, window=WINDOW)
    assert v.outcome is Outcome.REPLAY
    assert _kinds(v) == {FindingKind.REPLAY}
    assert v.state is state


def test_replay_outside_recent_memory_is_still_refused() -> None:
    chain = make_chain(3)
    state, _ = _run(chain)
    assert state is not None
    forgetful = dataclasses.replace(state, recent=())
    v = check_next(forgetful, chain[0], received_at=T0, window=WINDOW)
    assert v.outcome is Outcome.REPLAY


def test_gap_is_accepted_and_flagged_then_filled_by_reorder() -> None:
    chain = make_chain(6)
    state, _ = _run(chain[:2])
    v = check_next(state, chain[5], received_at=chain[5].device_time, window=WINDOW)
    assert v.outcome is Outcome.GAP
    assert v.accepted
    gap = next(f for f in v.findings if f.kind is FindingKind.GAP)
    assert gap.missing == (2, 4)
    state = v.state
    for rec in (chain[3], chain[2], chain[4]):
        v = check_next(
            state, rec, received_at=rec.device_time + timedelta(minutes=5), window=WINDOW
        )
        assert v.outcome is Outcome.REORDER, rec.seq
        assert FindingKind.REORDER in _kinds(v)
        state = v.state
    assert state is not None
    assert state.gaps == ()
    assert state.seq == 5
    # once filled, a second copy is a duplicate
    assert check_next(state, chain[3], received_at=T0, window=WINDOW).outcome is Outcome.DUPLICATE


def test_reorder_that_does_not_link_is_a_broken_link() -> None:
    chain = make_chain(4)
    state, _ = _run([chain[0], chain[3]])
    forged = dataclasses.replace(chain[2], body={"glucose_mg_dl": 1})
    v = check_next(state, forged, received_at=T0, window=WINDOW)
    assert v.outcome is Outcome.BROKEN_LINK
    assert v.state is state


def test_broken_link_is_refused() -> None:
    chain = make_chain(3)
    state, _ = _run(chain[:2])
    bad = dataclasses.replace(chain[2], prev_hash="f" * 64)
    v = check_next(state, bad, received_at=bad.device_time, window=WINDOW)
    assert v.outcome is Outcome.BROKEN_LINK
    assert not v.accepted
    assert v.state is state


def test_first_record_must_name_genesis() -> None:
    v = check_next(None, make_record(0, prev_hash="a" * 64), received_at=T0, window=WINDOW)
    assert v.outcome is Outcome.BROKEN_LINK
    assert v.state is None


def test_first_record_above_zero_is_a_gap() -> None:
    v = check_next(
        None,
        make_record(7, prev_hash="a" * 64),
        received_at=T0 + timedelta(minutes=35),
        window=WINDOW,
    )
    assert v.outcome is Outcome.GAP
    assert next(iter(v.findings)).missing == (0, 6)


def test_new_boot_links_to_previous_boot() -> None:
    chain = make_chain(3)
    state, _ = _run(chain)
    assert state is not None
    shifted = [
        dataclasses.replace(r, device_time=r.device_time + timedelta(hours=1))
        for r in make_chain(2, boot_id="boot-2")
    ]
    boot2 = make_chain_from(shifted, state.hash)
    v = check_next(state, boot2[0], received_at=boot2[0].device_time, window=WINDOW)
    assert v.outcome is Outcome.NEW_BOOT
    assert v.accepted
    assert _kinds(v) == {FindingKind.NEW_BOOT}
    v2 = check_next(v.state, boot2[1], received_at=boot2[1].device_time, window=WINDOW)
    assert v2.outcome is Outcome.ACCEPTED
    # a record of the old boot is now a replay, not a fresh chain
    old = dataclasses.replace(chain[2], body={"x": 1})
    assert check_next(v2.state, old, received_at=T0, window=WINDOW).outcome is Outcome.REPLAY


def make_chain_from(records: list[DeviceRecord], prev: str) -> list[DeviceRecord]:
    out = []
    for rec in records:
        linked = dataclasses.replace(rec, prev_hash=prev)
        out.append(linked)
        prev = record_hash(linked)
    return out


def test_new_boot_that_does_not_link_is_refused() -> None:
    state, _ = _run(make_chain(2))
    rec = make_record(0, boot_id="boot-2", prev_hash="c" * 64)
    v = check_next(state, rec, received_at=T0, window=WINDOW)
    assert v.outcome is Outcome.BROKEN_LINK


def test_new_boot_starting_above_zero_is_a_gap() -> None:
    state, _ = _run(make_chain(2))
    rec = make_record(4, boot_id="boot-2", prev_hash="c" * 64)
    v = check_next(state, rec, received_at=rec.device_time, window=WINDOW)
    assert v.outcome is Outcome.GAP
    assert _kinds(v) == {FindingKind.NEW_BOOT, FindingKind.GAP}


def test_clock_outside_window_is_flagged_not_refused() -> None:
    (rec,) = make_chain(1)
    v = check_next(None, rec, received_at=rec.device_time + timedelta(minutes=11), window=WINDOW)
    assert v.outcome is Outcome.ACCEPTED
    assert _kinds(v) == {FindingKind.CLOCK_OUTSIDE_WINDOW}
    ok = check_next(None, rec, received_at=rec.device_time - timedelta(minutes=10), window=WINDOW)
    assert ok.findings == ()


def test_time_going_backwards_is_flagged() -> None:
    chain = make_chain(2)
    state, _ = _run(chain[:1])
    back = make_chain_from(
        [dataclasses.replace(chain[1], device_time=T0 - timedelta(minutes=1))],
        record_hash(chain[0]),
    )[0]
    v = check_next(state, back, received_at=T0, window=WINDOW)
    assert v.outcome is Outcome.ACCEPTED
    assert _kinds(v) == {FindingKind.TIME_BACKWARDS}


def test_open_gaps_are_bounded() -> None:
    records = []
    prev = make_chain(1)[0]
    records.append(prev)
    for i in range(GAP_LIMIT + 5):
        rec = make_record(2 * (i + 1), prev_hash="d" * 64)
        records.append(rec)
    state, verdicts = _run(records)
    assert all(v.accepted for v in verdicts)
    assert state is not None
    assert len(state.gaps) == GAP_LIMIT


def test_usage_errors() -> None:
    state, _ = _run(make_chain(1))
    with pytest.raises(UsageError):
        check_next(state, make_record(1, device_id="dev-2"), received_at=T0, window=WINDOW)
    with pytest.raises(UsageError):
        check_next(None, make_record(), received_at=T0, window=timedelta(0))
    with pytest.raises(UsageError):
        check_next(None, make_record(), received_at=T0.replace(tzinfo=None), window=WINDOW)


# -- properties ----------------------------------------------------------------------------


def _two_boots() -> list[DeviceRecord]:
    first = make_chain(6)
    second = make_chain_from(
        [
            dataclasses.replace(r, device_time=r.device_time + timedelta(hours=1))
            for r in make_chain(5, boot_id="boot-2")
        ],
        record_hash(first[-1]),
    )
    return first + second


VALID = _two_boots()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(range(len(VALID))), min_size=1, max_size=30),
    st.integers(-20, 20),
)
def test_any_permutation_or_duplication_is_classified(picks: list[int], skew: int) -> None:
    state: ChainState | None = None
    accepted: list[tuple[str, int]] = []
    for i in picks:
        rec = VALID[i]
        v = check_next(
            state, rec, received_at=rec.device_time + timedelta(minutes=skew), window=WINDOW
        )
        assert isinstance(v.outcome, Outcome)
        if v.accepted:
            accepted.append((rec.boot_id, rec.seq))
            assert v.state is not None
        else:
            assert v.state is state
        if v.outcome is Outcome.DUPLICATE:
            assert v.findings == ()
        state = v.state
    assert len(accepted) == len(set(accepted))


@settings(max_examples=100, deadline=None)
@given(st.permutations(range(len(VALID))))
def test_valid_chain_in_any_order_never_accepts_a_record_twice(order: list[int]) -> None:
    state: ChainState | None = None
    accepted: set[tuple[str, int]] = set()
    for i in [*order, *order]:
        rec = VALID[i]
        v = check_next(state, rec, received_at=rec.device_time, window=WINDOW)
        key = (rec.boot_id, rec.seq)
        if v.accepted:
            assert key not in accepted
            accepted.add(key)
        state = v.state
