"""Ingest commits are flushed to disk outside the write lock, before they are answered."""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from medwarden.store import SqlStore, open_store
from medwarden.store._ledger_ingest import PendingBatch, ingest_group
from medwarden.store._wal_sync import WalSyncError, sync_wal
from tests.store.test_ledger_group_ingest import _chain, _ingest, _pending, _register


def _wal_database(tmp_path: Path) -> str:
    path = str(tmp_path / "w.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.execute("INSERT INTO t VALUES (1)")
    return path  # the connection stays open (garbage-collected later): its WAL stays


def test_sync_wal_flushes_the_wal_file_and_skips_a_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _wal_database(tmp_path)
    flushed: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        flushed.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    sync_wal(path)
    assert flushed == [f"{path}-wal"]
    sync_wal(str(tmp_path / "never-opened.db"))  # no WAL: nothing to flush, no error
    assert flushed == [f"{path}-wal"]


def test_a_failed_flush_is_a_wal_sync_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _wal_database(tmp_path)

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(WalSyncError, match="Input/output error") as raised:
        sync_wal(path)
    assert raised.value.code == "MW300"


@pytest.fixture
def file_store(tmp_path: Path) -> Iterator[SqlStore]:
    store = open_store(str(tmp_path / "s.db"))
    yield store
    store.close()


def _stored(path: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM telemetry_record").fetchone()[0])


def test_ingest_flushes_after_its_commit_and_before_it_answers(
    file_store: SqlStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, _ = _register(file_store, ["pump-1"])["pump-1"]
    path = str(tmp_path / "s.db")
    seen: list[tuple[str, int]] = []

    def spy(database_path: str) -> None:
        seen.append((database_path, _stored(path)))  # another connection sees the commit
        sync_wal(database_path)

    monkeypatch.setattr("medwarden.store.ledger_repository.sync_wal", spy)
    results = _ingest(file_store, "pump-1", _chain("pump-1", key, 3))
    assert [r.status for r in results] == ["accepted"] * 3
    assert seen == [(path, 3)]  # flushed once, after the commit, before the answer


def test_a_failed_flush_answers_nothing_and_retries_nothing(
    file_store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    devices = _register(file_store, ["pump-1", "pump-2"])
    chains = {d: _chain(d, key, 2) for d, (key, _) in devices.items()}
    transactions: list[int] = []

    def counting(conn: Connection, group: Sequence[PendingBatch]) -> None:
        transactions.append(len(group))
        ingest_group(conn, group)

    def failing(database_path: str) -> None:
        raise WalSyncError("disk gone")

    monkeypatch.setattr("medwarden.store.ledger_repository.ingest_group", counting)
    monkeypatch.setattr("medwarden.store.ledger_repository.sync_wal", failing)
    batches = [_pending(d, items) for d, items in chains.items()]
    file_store.ledger._commit_group(batches)
    assert transactions == [2]  # not retried batch by batch, which would answer "duplicate"
    for batch in batches:
        assert isinstance(batch.error, WalSyncError)
        assert batch.results is None
    monkeypatch.setattr("medwarden.store.ledger_repository.sync_wal", sync_wal)
    for device_id, items in chains.items():  # each device sends its batch again
        again: list[Any] = _ingest(file_store, device_id, items)
        assert [r.status for r in again] == ["duplicate"] * 2
        assert all(r.receipt is not None for r in again)
