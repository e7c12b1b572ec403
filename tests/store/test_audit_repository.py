"""The stored audit trail on SQLite and PostgreSQL: append, stream, head, triggers, concurrency."""

from __future__ import annotations

import inspect
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

import medwarden
from medwarden.audit import GENESIS, EventDraft, verify_chain
from medwarden.errors import VerificationError
from medwarden.services.audit import recent, verify
from medwarden.store import SqlStore, open_store
from medwarden.store.audit_repository import SqlAuditLog
from medwarden.store.db import resolve_url
from tests.store.conftest import count_statements

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def draft(number: int, **changes: object) -> EventDraft:
    """The ``number``-th test draft (a triage decision), with ``changes`` applied."""
    fields: dict[str, object] = {
        "at": AT + timedelta(seconds=number, microseconds=number),
        "actor": "alice",
        "action": "triage.decide",
        "subject_type": "finding",
        "subject_id": f"F-{number}",
        "before": {"status": "under_investigation"},
        "after": {"status": "not_affected", "n": number},
        "reason": f"reason {number}",
    }
    fields.update(changes)
    return EventDraft(**fields)  # type: ignore[arg-type]


def raw_engine(store_url: str) -> Engine:
    """A plain SQLAlchemy engine on the store's database (what an attacker would use)."""
    return create_engine(resolve_url(store_url))


def test_append_read_and_head(store: SqlStore) -> None:
    """Appended events come back equal, in order, and the head is the last (seq, hash)."""
    assert store.audit.head() == (0, GENESIS)
    assert list(store.audit.events()) == []
    appended = [store.audit.append(draft(n)) for n in range(1, 4)]
    assert [e.seq for e in appended] == [1, 2, 3]
    assert appended[0].prev_hash == GENESIS
    assert list(store.audit.events()) == appended
    assert list(store.audit.events(after_seq=1)) == appended[1:]
    assert store.audit.head() == (3, appended[-1].hash)
    assert verify(store.audit).checkpoint == verify_chain(appended).checkpoint


def test_content_round_trips_exactly(store: SqlStore) -> None:
    """Unicode, nested JSON, floats, microseconds and other zones read back hash-identical."""
    tricky = draft(
        1,
        at=datetime(2026, 3, 29, 3, 30, 0, 999999, tzinfo=timezone(timedelta(hours=-7))),
        actor="Zoë Ørsted",
        subject_id="pkg:npm/%40scope/name@1.0.0",
        before=None,
        after={"ü": [1.5, -0.0, 10**18, None, True, {"nested": ["\u0000", "\u2028"]}]},
        reason="multi\nline\treason ✓",
    )
    event = store.audit.append(tricky)
    (stored,) = store.audit.events()
    assert stored == event
    assert verify(store.audit).count == 1


def test_streaming_reads_in_pages(store: SqlStore) -> None:
    """Events are read with keyset pages, one query per page, never all at once."""
    for n in range(1, 8):
        store.audit.append(draft(n))
    log = SqlAuditLog(store.database, page_size=3)
    with count_statements(store) as seen:
        assert [e.seq for e in log.events()] == list(range(1, 8))
    assert len(seen) == 3
    assert [e.seq for e in recent(log, 2)] == [6, 7]


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_event SET actor = 'mallory' WHERE seq = 1", "DELETE FROM audit_event"],
)
def test_triggers_refuse_update_and_delete(store: SqlStore, store_url: str, statement: str) -> None:
    """Plain SQL cannot change or remove an event: the table's triggers refuse it."""
    store.audit.append(draft(1))
    engine = raw_engine(store_url)
    try:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()
    assert verify(store.audit).count == 1


def test_truncate_is_refused_on_postgresql(store: SqlStore, store_url: str) -> None:
    """On PostgreSQL ``TRUNCATE`` is refused as well."""
    if store.database.dialect != "postgresql":
        pytest.skip("TRUNCATE exists on PostgreSQL only")
    store.audit.append(draft(1))
    engine = raw_engine(store_url)
    try:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_event"))
    finally:
        engine.dispose()


def test_concurrent_appenders_never_fork_the_chain(store: SqlStore, store_url: str) -> None:
    """Two writers, each with its own connection pool, append 50 events each: one chain of 100."""
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def append_fifty(worker: int) -> None:
        try:
            with open_store(store_url, create=False) as own:
                barrier.wait()
                for n in range(50):
                    own.audit.append(draft(n + 1, actor=f"worker-{worker}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=append_fifty, args=(w,)) for w in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = verify(store.audit)
    assert report.count == 100
    actors = {e.actor for e in store.audit.events()}
    assert actors == {"worker-1", "worker-2"}


def test_unreadable_rows_fail_verification(store: SqlStore, store_url: str) -> None:
    """A row whose JSON was overwritten with garbage is a verification failure naming it."""
    for n in (1, 2):
        store.audit.append(draft(n))
    engine = raw_engine(store_url)
    disable = (
        "ALTER TABLE audit_event DISABLE TRIGGER ALL"
        if store.database.dialect == "postgresql"
        else "DROP TRIGGER audit_event_no_update"
    )
    try:
        with engine.begin() as conn:
            conn.execute(text(disable))
            conn.execute(text("UPDATE audit_event SET after_json = '{oops' WHERE seq = 2"))
    finally:
        engine.dispose()
    with pytest.raises(VerificationError, match="audit event 2 cannot be read"):
        verify(store.audit)


def test_there_is_no_update_or_delete_path() -> None:
    """The audit log offers append and reads only, and no medwarden code updates or deletes it."""
    public = {name for name, _ in inspect.getmembers(SqlAuditLog) if not name.startswith("_")}
    assert public == {"append", "events", "head"}
    source = Path(medwarden.__file__).parent
    for path in source.rglob("*.py"):
        code = path.read_text()
        for forbidden in ("update(audit_event", "delete(audit_event", "UPDATE audit_event"):
            assert forbidden not in code, f"{path} contains {forbidden}"
