"""The SQLite ingest gate: one writer at a time, and a process that held it last lets a
waiting process go first."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from medwarden.store._sqlite_gate import POLITE_WAIT, SqliteGate

_LAYOUT = struct.Struct("<q16q")


def _layout(db: Path) -> list[int]:
    data = (Path(f"{db}-ingest.lock")).read_bytes()[: _LAYOUT.size]
    return list(_LAYOUT.unpack(data))


def _write_layout(db: Path, values: list[int]) -> None:
    with open(f"{db}-ingest.lock", "r+b") as f:
        f.write(_LAYOUT.pack(*values))


def test_threads_take_turns_and_leave_no_waiting_slot(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    gate = SqliteGate(str(db))
    inside, most = [0], [0]

    def writer() -> None:
        for _ in range(50):
            with gate:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                time.sleep(0.0001)
                inside[0] -= 1

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert most[0] == 1
    values = _layout(db)
    assert values[0] == os.getpid()  # held last
    assert values[1:] == [0] * 16  # nobody waiting


def _used_gate(tmp_path: Path) -> tuple[Path, SqliteGate]:
    """A gate taken and released once (its lock file exists, this process held it last)."""
    db = tmp_path / "s.db"
    gate = SqliteGate(str(db))
    with gate:
        pass
    return db, gate


def test_last_holder_lets_a_live_waiting_process_go_first(tmp_path: Path) -> None:
    db, gate = _used_gate(tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        values = _layout(db)
        values[5] = other.pid  # another server process is waiting for the gate
        _write_layout(db, values)
        start = time.monotonic()
        with gate:
            waited = time.monotonic() - start
        assert POLITE_WAIT * 0.9 <= waited < 1.0  # it waited, but only so long
        assert other.pid not in _layout(db)[1:]  # it did not take its turn: forgotten
        values = _layout(db)
        values[5] = other.pid  # waiting again
        _write_layout(db, values)
        values = _layout(db)
        values[0] = other.pid  # the other process held it since: no waiting now
        _write_layout(db, values)
        start = time.monotonic()
        with gate:
            assert time.monotonic() - start < POLITE_WAIT * 0.9
    finally:
        other.kill()
        other.wait()


def test_a_dead_waiter_is_not_waited_for_and_its_slot_is_reused(tmp_path: Path) -> None:
    db, gate = _used_gate(tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    values = _layout(db)
    values[1:] = [gone.pid] * 16  # every slot names a killed server's process
    _write_layout(db, values)
    start = time.monotonic()
    with gate:
        assert time.monotonic() - start < POLITE_WAIT * 0.9
    assert gone.pid not in _layout(db)[1:2]  # the first dead slot was taken and cleared


def test_in_memory_databases_need_no_lock_file(tmp_path: Path) -> None:
    gate = SqliteGate(":memory:")
    with gate:
        pass
    assert not list(tmp_path.iterdir())
