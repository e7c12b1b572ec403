"""Group commit: who leads, what joins a group, and what a failing group does."""

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


class _SignallingLock:
    """A lock that wakes :meth:`wait_for` callers each time it is released."""

    def __init__(self) -> None:
        self._cond = threading.Condition()

    def __enter__(self) -> None:
        self._cond.acquire()

    def __exit__(self, *exc: object) -> None:
        self._cond.notify_all()
        self._cond.release()

    def wait_for(self, predicate: Callable[[], bool]) -> None:
        with self._cond:
            assert self._cond.wait_for(predicate, WAIT)


class _Submitter(threading.Thread):
    """Submit one entry in a thread; keep what ``submit`` raised."""

    def __init__(self, commit: GroupCommit[Any], entry: object) -> None:
        super().__init__(daemon=True)
        self.commit, self.entry = commit, entry
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.commit.submit(self.entry)
        except BaseException as exc:  # handed to the test
            self.error = exc

    def finish(self) -> BaseException | None:
        self.join(WAIT)
        assert not self.is_alive()
        return self.error


def _commit(
    run: Callable[[Sequence[Any]], None],
    *,
    key: Callable[[Any], Hashable] = lambda e: e[0],
    size: Callable[[Any], int] = lambda e: 1,
    max_size: int = 100,
) -> tuple[GroupCommit[Any], _SignallingLock]:
    commit: GroupCommit[Any] = GroupCommit(run, key=key, size=size, max_size=max_size)
    lock = _SignallingLock()
    commit._lock = lock  # type: ignore[assignment]  # so tests can wait for the queue
    return commit, lock


class _FirstGroupBlocks:
    """A runner recording its groups; the first one waits for :attr:`release`."""

    def __init__(self, fail_when: Callable[[Sequence[Any]], bool] = lambda g: False) -> None:
        self.groups: list[list[Any]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self._fail_when = fail_when

    def __call__(self, entries: Sequence[Any]) -> None:
        self.groups.append(list(entries))
        if len(self.groups) == 1:
            self.started.set()
            assert self.release.wait(WAIT)
        if self._fail_when(entries):
            raise RuntimeError("boom")


def _queue_behind_a_running_group(
    runner: _FirstGroupBlocks, lead: object, entries: Sequence[object], **options: Any
) -> tuple[GroupCommit[Any], list[_Submitter]]:
    """Start ``lead`` (its group blocks), then queue ``entries`` in exactly this order."""
    commit, lock = _commit(runner, **options)
    threads = [_Submitter(commit, lead)]
    threads[0].start()
    assert runner.started.wait(WAIT)
    for queued, entry in enumerate(entries, start=2):
        thread = _Submitter(commit, entry)
        thread.start()
        threads.append(thread)
        lock.wait_for(lambda n=queued: len(commit._queue) == n)  # type: ignore[misc]
    return commit, threads


def test_a_lone_submit_is_a_group_of_one_in_the_callers_thread() -> None:
    ran: list[tuple[list[Entry], int]] = []
    commit, _ = _commit(lambda g: ran.append((list(g), threading.get_ident())))
    commit.submit(("a", 1))
    commit.submit(("a", 2))
    me = threading.get_ident()
    assert ran == [([("a", 1)], me), ([("a", 2)], me)]


def test_entries_waiting_behind_a_group_form_the_next_group_in_order() -> None:
    runner = _FirstGroupBlocks()
    waiting = [(f"k{i}", i) for i in range(10)]
    _, threads = _queue_behind_a_running_group(runner, ("lead", 0), waiting)
    assert runner.groups == [[("lead", 0)]]  # nothing else ran while the first group runs
    runner.release.set()
    assert [t.finish() for t in threads] == [None] * 11
    assert runner.groups == [[("lead", 0)], waiting]
    ran = Counter(e for group in runner.groups for e in group)
    assert ran == Counter([("lead", 0), *waiting])


def test_one_key_never_twice_in_a_group_and_keeps_its_order() -> None:
    runner = _FirstGroupBlocks()
    waiting = [("a", 1), ("a", 2), ("b", 3), ("a", 4), ("c", 5)]
    _, threads = _queue_behind_a_running_group(runner, ("a", 0), waiting)
    runner.release.set()
    assert [t.finish() for t in threads] == [None] * 6
    assert runner.groups == [
        [("a", 0)],
        [("a", 1), ("b", 3), ("c", 5)],  # b and c, submitted later, join a's earlier group
        [("a", 2)],
        [("a", 4)],
    ]


def test_the_size_budget_defers_entries_but_an_oversized_leader_runs() -> None:
    runner = _FirstGroupBlocks()
    waiting = [("a", 2), ("b", 2), ("c", 2), ("big", 9), ("d", 1)]
    options: dict[str, Any] = {"size": lambda e: e[1], "max_size": 5}
    _, threads = _queue_behind_a_running_group(runner, ("lead", 1), waiting, **options)
    runner.release.set()
    assert [t.finish() for t in threads] == [None] * 6
    assert runner.groups == [
        [("lead", 1)],
        [("a", 2), ("b", 2)],  # c would make 6 > 5
        [("c", 2)],
        [("big", 9)],  # over the budget on its own, and still run
        [("d", 1)],
    ]


def test_a_failing_group_raises_in_its_leader_only_and_the_queue_moves_on() -> None:
    runner = _FirstGroupBlocks(fail_when=lambda g: ("a", 1) in g)
    waiting = [("a", 1), ("b", 2), ("a", 3)]
    commit, threads = _queue_behind_a_running_group(runner, ("lead", 0), waiting)
    runner.release.set()
    errors = [t.finish() for t in threads]
    assert errors[0] is None
    assert isinstance(errors[1], RuntimeError)  # the leader of the failing group
    assert str(errors[1]) == "boom"
    assert errors[2:] == [None, None]  # its follower returns; the next group ran
    commit.submit(("later", 4))
    assert runner.groups == [[("lead", 0)], [("a", 1), ("b", 2)], [("a", 3)], [("later", 4)]]


def test_a_lone_failing_submit_raises_and_leaves_the_queue_empty() -> None:
    calls: list[list[Entry]] = []

    def run(group: Sequence[Entry]) -> None:
        calls.append(list(group))
        if group[0][0] == "bad":
            raise ValueError("no")

    commit, _ = _commit(run)
    with pytest.raises(ValueError, match="no"):
        commit.submit(("bad", 0))
    commit.submit(("good", 1))
    assert calls == [[("bad", 0)], [("good", 1)]]
    assert commit._queue == []


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
