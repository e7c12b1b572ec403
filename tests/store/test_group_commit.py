"""Group commit: what joins a group, who runs it, and what a failing group does."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import pytest

from medwarden.store._group_commit import GroupCommit

WAIT = 10.0
"""Seconds any wait in these tests may take before the test fails instead of hanging."""

Entry = tuple[str, int]
"""(key, size) -- or (key, sequence number) where sizes do not matter."""


class _Recorder:
    """Completion callbacks that remember each entry's outcome and the thread it came in."""

    def __init__(self) -> None:
        self.outcomes: dict[object, BaseException | None] = {}
        self.threads: set[int] = set()
        self._all = threading.Condition()

    def done_for(self, entry: object) -> Callable[[BaseException | None], None]:
        def done(error: BaseException | None) -> None:
            with self._all:
                self.outcomes[entry] = error
                self.threads.add(threading.get_ident())
                self._all.notify_all()

        return done

    def wait_for(self, count: int) -> None:
        with self._all:
            assert self._all.wait_for(lambda: len(self.outcomes) >= count, WAIT)


def _commit(
    run: Callable[[Sequence[Any]], None],
    *,
    key: Callable[[Any], Hashable] = lambda e: e[0],
    size: Callable[[Any], int] = lambda e: 1,
    max_size: int = 100,
    name: str = "medwarden-group-commit",
) -> GroupCommit[Any]:
    return GroupCommit(run, key=key, size=size, max_size=max_size, name=name)


class _FirstGroupBlocks:
    """A runner recording its groups (and its thread); the first one waits for :attr:`release`."""

    def __init__(self, fail_when: Callable[[Sequence[Any]], bool] = lambda g: False) -> None:
        self.groups: list[list[Any]] = []
        self.threads: set[int] = set()
        self.started = threading.Event()
        self.release = threading.Event()
        self._fail_when = fail_when

    def __call__(self, entries: Sequence[Any]) -> None:
        self.groups.append(list(entries))
        self.threads.add(threading.get_ident())
        if len(self.groups) == 1:
            self.started.set()
            assert self.release.wait(WAIT)
        if self._fail_when(entries):
            raise RuntimeError("boom")


def _queue_behind_a_running_group(
    runner: _FirstGroupBlocks, lead: object, entries: Sequence[object], **options: Any
) -> tuple[GroupCommit[Any], _Recorder]:
    """Start ``lead`` (its group blocks), then queue ``entries`` in exactly this order."""
    commit = _commit(runner, **options)
    recorder = _Recorder()
    commit.enqueue(lead, recorder.done_for(lead))
    assert runner.started.wait(WAIT)
    for entry in entries:
        commit.enqueue(entry, recorder.done_for(entry))
    assert commit.queued() == len(entries)  # all wait: the first group still runs
    return commit, recorder


def test_a_lone_submit_is_a_group_of_one_in_the_writer_thread() -> None:
    ran: list[tuple[list[Entry], int]] = []
    commit = _commit(lambda g: ran.append((list(g), threading.get_ident())))
    commit.submit(("a", 1))
    commit.submit(("a", 2))
    assert [group for group, _ in ran] == [[("a", 1)], [("a", 2)]]
    (writer,) = {thread for _, thread in ran}  # one writer thread ran both ...
    assert writer != threading.get_ident()  # ... and it is not the caller's
    assert commit.queued() == 0


def test_entries_waiting_behind_a_group_form_the_next_group_in_order() -> None:
    runner = _FirstGroupBlocks()
    waiting = [(f"k{i}", i) for i in range(10)]
    _, recorder = _queue_behind_a_running_group(runner, ("lead", 0), waiting)
    assert runner.groups == [[("lead", 0)]]  # nothing else ran while the first group runs
    assert recorder.outcomes == {}  # and nobody was answered before it finished
    runner.release.set()
    recorder.wait_for(11)
    assert runner.groups == [[("lead", 0)], waiting]
    assert recorder.outcomes == dict.fromkeys([("lead", 0), *waiting])
    assert recorder.threads == runner.threads  # answered from the writer thread


def test_one_key_never_twice_in_a_group_and_keeps_its_order() -> None:
    runner = _FirstGroupBlocks()
    waiting = [("a", 1), ("a", 2), ("b", 3), ("a", 4), ("c", 5)]
    _, recorder = _queue_behind_a_running_group(runner, ("a", 0), waiting)
    runner.release.set()
    recorder.wait_for(6)
    assert runner.groups == [
        [("a", 0)],
        [("a", 1), ("b", 3), ("c", 5)],  # b and c, submitted later, join a's earlier group
        [("a", 2)],
        [("a", 4)],
    ]


def test_the_size_budget_defers_entries_but_an_oversized_front_entry_runs() -> None:
    runner = _FirstGroupBlocks()
    waiting = [("a", 2), ("b", 2), ("c", 2), ("big", 9), ("d", 1)]
    options: dict[str, Any] = {"size": lambda e: e[1], "max_size": 5}
    _, recorder = _queue_behind_a_running_group(runner, ("lead", 1), waiting, **options)
    runner.release.set()
    recorder.wait_for(6)
    assert runner.groups == [
        [("lead", 1)],
        [("a", 2), ("b", 2)],  # c would make 6 > 5
        [("c", 2)],
        [("big", 9)],  # over the budget on its own, and still run
        [("d", 1)],
    ]


def test_a_failing_group_hands_its_error_to_each_of_its_entries_and_the_queue_moves_on() -> None:
    runner = _FirstGroupBlocks(fail_when=lambda g: ("a", 1) in g)
    waiting = [("a", 1), ("b", 2), ("a", 3)]
    commit, recorder = _queue_behind_a_running_group(runner, ("lead", 0), waiting)
    runner.release.set()
    recorder.wait_for(4)
    failed = recorder.outcomes[("a", 1)]
    assert isinstance(failed, RuntimeError)
    assert str(failed) == "boom"
    assert recorder.outcomes[("b", 2)] is failed  # same group, same error
    assert recorder.outcomes[("lead", 0)] is None
    assert recorder.outcomes[("a", 3)] is None  # the next group ran
    commit.submit(("later", 4))
    assert runner.groups == [[("lead", 0)], [("a", 1), ("b", 2)], [("a", 3)], [("later", 4)]]


def test_a_lone_failing_submit_raises_and_leaves_the_queue_empty() -> None:
    calls: list[list[Entry]] = []

    def run(group: Sequence[Entry]) -> None:
        calls.append(list(group))
        if group[0][0] == "bad":
            raise ValueError("no")

    commit = _commit(run)
    with pytest.raises(ValueError, match="no"):
        commit.submit(("bad", 0))
    commit.submit(("good", 1))
    assert calls == [[("bad", 0)], [("good", 1)]]
    assert commit.queued() == 0


def test_a_failing_callback_does_not_stop_the_writer(caplog: pytest.LogCaptureFixture) -> None:
    ran: list[list[Entry]] = []
    commit = _commit(lambda g: ran.append(list(g)))

    def broken(error: BaseException | None) -> None:
        raise KeyError("callback")

    commit.enqueue(("a", 1), broken)
    commit.submit(("b", 2))  # served with or after the broken callback's entry
    commit.submit(("c", 3))
    assert [e for group in ran for e in group] == [("a", 1), ("b", 2), ("c", 3)]
    assert "completion callback failed" in caplog.text


def test_close_runs_what_is_queued_then_refuses_new_entries() -> None:
    runner = _FirstGroupBlocks()
    commit, recorder = _queue_behind_a_running_group(
        runner, ("lead", 0), [("a", 1), ("b", 2)], name="closing-writer"
    )
    assert any(t.name == "closing-writer" for t in threading.enumerate())
    closing = threading.Thread(target=commit.close, args=(WAIT,))
    closing.start()
    runner.release.set()
    closing.join(WAIT)
    assert not closing.is_alive()
    assert recorder.outcomes == dict.fromkeys([("lead", 0), ("a", 1), ("b", 2)])
    assert not any(t.name == "closing-writer" for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="closed"):
        commit.submit(("late", 3))
    commit.close()  # twice is harmless


def test_many_threads_each_entry_runs_once_and_keys_keep_their_order() -> None:
    threads_n, per_thread, keys = 16, 50, 5
    groups: list[list[tuple[int, int]]] = []
    running = threading.Lock()
    overlapped = threading.Event()

    def run(group: Sequence[tuple[int, int]]) -> None:
        if not running.acquire(blocking=False):
            overlapped.set()  # two groups at once: must never happen
            return
        try:
            groups.append(list(group))
            time.sleep(0.0002)  # a transaction's I/O: frees the GIL, so submitters queue
        finally:
            running.release()

    commit: GroupCommit[tuple[int, int]] = GroupCommit(
        run, key=lambda e: e[0] % keys, size=lambda e: 1, max_size=8
    )
    start = threading.Barrier(threads_n)
    failures: list[BaseException] = []

    def submitter(thread: int) -> None:
        try:
            start.wait(WAIT)
            for i in range(per_thread):
                commit.submit((thread, i))
        except BaseException as exc:  # handed to the test
            failures.append(exc)

    workers = [threading.Thread(target=submitter, args=(t,)) for t in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(WAIT * 3)
    assert not any(w.is_alive() for w in workers)
    assert failures == []
    assert not overlapped.is_set()
    ran = [e for group in groups for e in group]
    assert Counter(ran) == Counter((t, i) for t in range(threads_n) for i in range(per_thread))
    assert max(len(group) for group in groups) > 1  # entries did share groups
    for group in groups:
        assert len(group) <= 8
        assert len({t % keys for t, _ in group}) == len(group)  # one entry per key
    for thread in range(threads_n):
        assert [i for t, i in ran if t == thread] == list(range(per_thread))
