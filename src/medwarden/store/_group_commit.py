"""Group commit: concurrent writers of one process share one transaction.

A write transaction has a fixed cost (``BEGIN``, ``COMMIT`` -- an ``fsync`` of the WAL
on PostgreSQL -- and the handover of SQLite's single writer lock) that a single-record
request pays in full.  Here writers queue; the writer at the front of the queue is the
*leader*: it takes the writers behind it (at most one per key, up to a size budget) into
one group, runs the group in one transaction and wakes them with their outcomes; the
next writer at the front then leads the next group.  A lone writer is a group of one and
waits for nobody -- batching comes only from writers that are already waiting, so it
costs no latency (the write path of LevelDB and of PostgreSQL's WAL flush work the same
way).

The runner sets each entry's outcome; an entry is handed back only after the runner
returned, which for the ledger means after the group's transaction committed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")


@dataclass(eq=False, slots=True)
class _Waiter(Generic[T]):
    entry: T
    key: Hashable
    size: int
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False


class GroupCommit(Generic[T]):
    """Run submitted entries in groups (see the module docstring).

    ``run(entries)`` processes one group; ``key(entry)`` keeps two entries with the same
    key (one device's batches) out of one group, in submission order; ``size(entry)``
    counts toward ``max_size`` (a group always takes at least its leader)."""

    def __init__(
        self,
        run: Callable[[Sequence[T]], None],
        *,
        key: Callable[[T], Hashable],
        size: Callable[[T], int],
        max_size: int,
    ) -> None:
        self._run = run
        self._key = key
        self._size = size
        self._max_size = max_size
        self._lock = threading.Lock()
        self._queue: list[_Waiter[T]] = []

    def submit(self, entry: T) -> None:
        """Return once ``entry`` was run in some group (by this thread or another)."""
        me = _Waiter(entry, self._key(entry), self._size(entry))
        with self._lock:
            self._queue.append(me)
            leading = len(self._queue) == 1
        if not leading:
            me.wake.wait()
            if me.done:
                return
        self._lead()

    def _lead(self) -> None:
        with self._lock:
            group = self._pick()
        try:
            self._run([w.entry for w in group])
        finally:
            with self._lock:
                for w in group:
                    w.done = True
                self._queue = [w for w in self._queue if not w.done]
                following = self._queue[0] if self._queue else None
            for w in group[1:]:
                w.wake.set()
            if following is not None:
                following.wake.set()  # the new front leads the next group

    def _pick(self) -> list[_Waiter[T]]:
        leader = self._queue[0]
        group, keys, total = [leader], {leader.key}, leader.size
        for w in self._queue[1:]:
            if w.key in keys:
                continue
            if total + w.size > self._max_size:
                break
            keys.add(w.key)  # a skipped key stays out: its later entries keep their order
            group.append(w)
            total += w.size
        return group
