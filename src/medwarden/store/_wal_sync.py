"""Make committed SQLite transactions survive a power loss without syncing under the lock.

The store runs SQLite in WAL mode with ``synchronous=NORMAL``: a commit appends its frames
to the ``-wal`` file and returns, so it survives the process being killed but not the host
losing power before the operating system wrote the file out.  ``synchronous=FULL`` would
``fsync`` the WAL inside every commit -- while SQLite's write lock (and, between server
processes, :class:`~._sqlite_gate.SqliteGate`) is held, so every other writer waits for
the disk too.

:func:`sync_wal` instead flushes the WAL file *after* the commit returned and before the
caller acknowledges anything.  After a crash SQLite recovers every transaction whose
frames, checksums and commit frame are intact in the WAL, so once the file is flushed
the transaction is as durable as with ``FULL``.  If a checkpoint has already copied the
frames into the database in the meantime, they are durable already: with ``NORMAL`` a
checkpoint syncs the WAL before it copies and the database file after.  Such a checkpoint
may also have removed the file (the last connection closing), which then leaves nothing
to flush.  Writers of other processes go on committing while this one waits for its disk.

A failed flush raises :class:`WalSyncError`: the transaction is committed but may not be on
disk, so nothing of it may be acknowledged, and it is not retried either -- after a failed
``fsync`` Linux may report the next one as successful although the data was lost.  The
device sends the batch again later and gets the stored receipts.
"""

from __future__ import annotations

import os

from medwarden.errors import StoreError

__all__ = ["WalSyncError", "sync_wal"]


class WalSyncError(StoreError):
    """The WAL could not be flushed: committed transactions may not be durable."""


def sync_wal(database_path: str) -> None:
    """Flush the WAL of the SQLite database at ``database_path`` to stable storage."""
    try:
        fd = os.open(f"{database_path}-wal", os.O_RDONLY)
    except FileNotFoundError:  # checkpointed into the (synced) database file and removed
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        raise WalSyncError(
            f"flushing the write-ahead log of {database_path} failed: {exc.strerror}",
            hint="check the disk; batches committed since the last flush were not acknowledged",
        ) from exc
    finally:
        os.close(fd)
