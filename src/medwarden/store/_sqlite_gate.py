"""One fair queue for SQLite's single writer, across threads and server processes.

SQLite has one writer; a writer that finds the database locked sleeps in its busy handler
(1, 2, 5, ... up to 100 ms between tries) and loses to whoever comes next, so under load
latency is set by those sleeps.  :class:`SqliteGate` queues ingest writers instead: the
threads of a process on a lock, processes (``serve --workers N``) on ``flock`` of a file
beside the database, which hands over as soon as the holder commits.

``flock`` wakes its waiters but does not hand the lock to them: a process that releases
it and asks again at once usually wins again, and the other process's requests waited
for several of its transactions (measured: 50-70 ms gate waits behind 5-8 ms
transactions).  So a process that held the gate last lets another process that is
waiting go first: waiting processes write their pid into a slot of the lock file (under a
byte-range lock), and the last holder, before asking again, waits -- at most
:data:`POLITE_WAIT` -- until the holder changed or no live process waits.  A pid whose
process died (a killed server) is not waited for, and a pid that did not take its turn
within that wait is forgotten (its process died and the pid was reused).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import threading
import time
from collections.abc import Callable

__all__ = ["POLITE_WAIT", "SqliteGate"]

POLITE_WAIT = 0.02
"""The longest a process that held the gate last waits for another waiting process."""

_SLOTS = 16
_LAYOUT = struct.Struct(f"<q{_SLOTS}q")  # last holder's pid, then waiting pids (0 = free)
_GUARD_OFFSET = 4096  # the byte-range lock guarding the layout (flock is the gate itself)


class SqliteGate:
    """Context manager around a SQLite write transaction (see the module docstring)."""

    def __init__(self, database_path: str | None) -> None:
        self._thread_lock = threading.Lock()
        self._path = None if database_path in (None, "", ":memory:") else database_path
        self._fd: int | None = None
        self._pid = os.getpid()

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        if self._path is None:
            return
        try:
            fd = self._open()
            slot = self._announce(fd)
            try:
                self._let_others_first(fd)
                fcntl.flock(fd, fcntl.LOCK_EX)
            finally:
                self._withdraw(fd, slot)
        except OSError:  # cannot lock beside the database: SQLite's own locking still holds
            pass
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _open(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # opened before a fork: reopen
            self._pid = os.getpid()
            self._fd = os.open(f"{self._path}-ingest.lock", os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def _read(self, fd: int) -> list[int]:
        data = os.pread(fd, _LAYOUT.size, 0)
        if len(data) < _LAYOUT.size:
            return [0] * (_SLOTS + 1)
        return list(_LAYOUT.unpack(data))

    def _update(self, fd: int, change: Callable[[list[int]], int]) -> int:
        """Apply ``change(values) -> result`` to the layout under the guard lock."""
        fcntl.lockf(fd, fcntl.LOCK_EX, 1, _GUARD_OFFSET)
        try:
            values = self._read(fd)
            result = change(values)
            os.pwrite(fd, _LAYOUT.pack(*values), 0)
            return result
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, _GUARD_OFFSET)

    def _announce(self, fd: int) -> int:
        """Write this pid into a free (or dead process's) slot; its index, or -1 if full."""

        def take(values: list[int]) -> int:
            for i in range(1, _SLOTS + 1):
                if values[i] == 0 or (values[i] != self._pid and not _alive(values[i])):
                    values[i] = self._pid
                    return i
            return -1

        return self._update(fd, take)

    def _withdraw(self, fd: int, slot: int) -> None:
        """Clear this process's slot; it holds the gate now (or gave up), so it is last."""

        def clear(values: list[int]) -> int:
            if slot > 0 and values[slot] == self._pid:
                values[slot] = 0
            values[0] = self._pid
            return 0

        with contextlib.suppress(OSError):
            self._update(fd, clear)

    def _let_others_first(self, fd: int) -> None:
        deadline = time.monotonic() + POLITE_WAIT
        others: list[int] = []
        while time.monotonic() < deadline:
            values = self._read(fd)
            if values[0] != self._pid:  # someone else held it since: my turn is fair
                return
            others = [p for p in values[1:] if p not in (0, self._pid) and _alive(p)]
            if not others:
                return
            time.sleep(0.0002)
        # A waiter that did not take its turn while the gate was free is not waiting (its
        # process died and the pid was reused, say): forget it, so it costs one wait only.
        with contextlib.suppress(OSError):
            self._update(fd, lambda values: _forget(values, others))


def _forget(values: list[int], pids: list[int]) -> int:
    for i in range(1, _SLOTS + 1):
        if values[i] in pids:
            values[i] = 0
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
