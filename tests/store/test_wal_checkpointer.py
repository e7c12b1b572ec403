"""The background WAL checkpointer: it checkpoints, it runs in the background, it stops."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import create_engine, text

from medwarden.store._wal_checkpointer import WalCheckpointer


def _engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    return engine


def test_a_pass_copies_every_committed_frame(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": i} for i in range(500)])
    busy, frames, done = WalCheckpointer(engine).checkpoint()
    assert busy == 0
    assert frames > 0
    assert done == frames
    engine.dispose()


def test_the_thread_checkpoints_until_stopped(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    checkpointer = WalCheckpointer(engine, interval=0.01)
    passes = threading.Semaphore(0)
    real = checkpointer.checkpoint

    def counting() -> tuple[int, int, int]:
        result = real()
        passes.release()
        return result

    checkpointer.checkpoint = counting  # type: ignore[method-assign]
    checkpointer.start()
    checkpointer.start()  # idempotent: one thread
    assert passes.acquire(timeout=10)
    assert passes.acquire(timeout=10)
    assert [t.name for t in threading.enumerate()].count("medwarden-wal-checkpoint") == 1
    checkpointer.stop()
    assert "medwarden-wal-checkpoint" not in [t.name for t in threading.enumerate()]
    checkpointer.start()  # a stopped checkpointer stays stopped
    assert "medwarden-wal-checkpoint" not in [t.name for t in threading.enumerate()]
    engine.dispose()
