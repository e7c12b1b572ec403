"""Checkpoint SQLite's write-ahead log in the background while telemetry is ingested.

SQLite copies the WAL back into the database (a checkpoint) in the commit that takes the
WAL past ``wal_autocheckpoint`` pages (16,384 here): at device-ingest rates that commit
took 55-75 ms every ~2.5 s while holding the write lock, the p99 of every request behind
it (``docs/adr/0014-ingest-hot-path.md``).  :class:`WalCheckpointer` runs a ``PASSIVE``
checkpoint every :data:`INTERVAL` seconds on its own connection: it never blocks writers
or readers, and it keeps the WAL far below the threshold, so commits stop paying for it.
Ingest starts it (a server process); other processes keep SQLite's automatic checkpoints.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading

from sqlalchemy import Engine

__all__ = ["INTERVAL", "WalCheckpointer"]

INTERVAL = 0.25
"""Seconds between background checkpoints (~1,500 pages of WAL at 1,500 records/s)."""


class WalCheckpointer:
    """A daemon thread running ``PRAGMA wal_checkpoint(PASSIVE)`` (see the module docstring)."""

    def __init__(self, engine: Engine, interval: float = INTERVAL) -> None:
        self._engine = engine
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the thread unless it runs (cheap to call on every ingest)."""
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="medwarden-wal-checkpoint", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (the store is closing)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(10)

    def checkpoint(self) -> tuple[int, int, int]:
        """One passive checkpoint now: (busy, WAL frames, frames checkpointed)."""
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            row = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            cursor.close()
        finally:
            raw.close()
        return int(row[0]), int(row[1]), int(row[2])

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            # a failed pass (database busy or closing) is retried at the next interval;
            # SQLite's automatic checkpoint remains the fallback
            with contextlib.suppress(sqlite3.Error, OSError):
                self.checkpoint()
