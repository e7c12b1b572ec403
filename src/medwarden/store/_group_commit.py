"""Group commit: concurrent writers of one process share one transaction.

A write transaction has a fixed cost (``BEGIN``, ``COMMIT`` -- an ``fsync`` of the WAL
on PostgreSQL -- and the handover of SQLite's single writer lock) that a single-record
request pays in full.  Here writers queue, and one *writer thread* per instance takes
the front of the queue and the entries behind it (at most one per key, up to a size
budget) as one group, runs the group in one transaction and hands each entry its
outcome; then it takes the next group.  A lone entry is a group of one and waits for
nobody -- batching comes only from entries that arrived while the previous group ran,
so it costs no latency (the write path of LevelDB and of PostgreSQL's WAL flush work
the same way).

Entries are submitted from blocking code (:meth:`GroupCommit.submit`, which returns when
its group ran) or with a completion callback (:meth:`GroupCommit.enqueue`), which is how
an event loop waits for its entries without parking a thread per request: the callback
runs in the writer thread and is meant to post the result to the loop.  One thread
does the writing, so a process has one thread contending for the interpreter lock with
its event loop, not one per waiting request.

The runner sets each entry's outcome; an entry is handed back only after the runner
returned, which for the ledger means after the group's transaction committed.  If the
runner raises, every entry of its group is handed that exception.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Done", "GroupCommit"]

T = TypeVar("T")

Done = Callable[[BaseException | None], None]
"""Called in the writer thread once an entry's group ran: ``None``, or what the runner raised."""

_log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class _Waiter(Generic[T]):
    entry: T
    key: Hashable
    size: int
    done: Done


class GroupCommit(Generic[T]):
    """Run submitted entries in groups (see the module docstring).

    ``run(entries)`` processes one group; ``key(entry)`` keeps two entries with the same
    key (one device's batches) out of one group, in submission order; ``size(entry)``
    counts toward ``max_size`` (a group always takes at least the front entry)."""

    def __init__(
        self,
        run: Callable[[Sequence[T]], None],
        *,
        key: Callable[[T], Hashable],
        size: Callable[[T], int],
        max_size: int,
        name: str = "medwarden-group-commit",
    ) -> None:
        self._run = run
        self._key = key
        self._size = size
        self._max_size = max_size
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[_Waiter[T]] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, entry: T) -> None:
        """Return once ``entry`` was run in some group; raise what its runner raised."""
        finished = threading.Event()
        outcome: list[BaseException | None] = []

        def done(error: BaseException | None) -> None:
            outcome.append(error)
            finished.set()

        self.enqueue(entry, done)
        finished.wait()
        if outcome[0] is not None:
            raise outcome[0]

    def enqueue(self, entry: T, done: Done) -> None:
        """Queue ``entry``; ``done`` is called in the writer thread once its group ran.

        ``done`` must not block: the next group waits for it."""
        waiter = _Waiter(entry, self._key(entry), self._size(entry), done)
        with self._cond:
            if self._closed:
                raise RuntimeError("the group commit is closed")
            self._queue.append(waiter)
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()

    def queued(self) -> int:
        """How many entries wait for a group (not counting the group running now)."""
        with self._cond:
            return len(self._queue)

    def close(self, timeout: float | None = None) -> None:
        """Run what is queued, then stop the writer thread; later entries are refused."""
        with self._cond:
            self._closed = True
            thread = self._thread
            self._cond.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return  # closed, and everything queued has run
                group = self._pick()
            error: BaseException | None = None
            try:
                self._run([w.entry for w in group])
            except BaseException as exc:  # handed to every entry of the group
                error = exc
            for w in group:
                try:
                    w.done(error)
                except Exception:  # a broken callback must not stop the writer
                    _log.exception("a group commit completion callback failed")

    def _pick(self) -> list[_Waiter[T]]:
        """Take the next group off the queue (the caller holds the lock)."""
        front = self._queue[0]
        group, keys, total = [front], {front.key}, front.size
        rest: list[_Waiter[T]] = []
        for i, w in enumerate(self._queue[1:], start=1):
            if w.key in keys:
                rest.append(w)  # a key already in the group (or skipped) keeps its order
                continue
            if total + w.size > self._max_size:
                rest.extend(self._queue[i:])
                break
            keys.add(w.key)
            group.append(w)
            total += w.size
        self._queue = rest
        return group
