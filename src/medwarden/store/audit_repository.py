"""The SQL implementation of :class:`~medwarden.services.ports.AuditLog`: append and read only.

:func:`append_event` assigns the next ``seq`` and the previous event's hash *inside*
the caller's write transaction: on SQLite the transaction holds the database write
lock (``BEGIN IMMEDIATE``), on PostgreSQL it first takes a transaction-level
advisory lock, so concurrent writers queue up instead of forking the chain (and the
``seq`` primary key would refuse a fork anyway).  Other repositories can call it
within their own transaction so a change and its audit event commit together.

There is deliberately no update or delete here, nor anywhere else in medwarden; the
table's triggers refuse both (migration ``0002``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, insert, select, text

from medwarden.audit.chain import GENESIS, seal
from medwarden.audit.model import AuditEvent, EventDraft
from medwarden.core.digests import canonical_json
from medwarden.errors import MedwardenError, VerificationError
from medwarden.store.schema import audit_event

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["PAGE_SIZE", "SqlAuditLog", "append_event", "read_head"]

PAGE_SIZE = 1_000
"""Events read per query while streaming (keyset pagination on ``seq``)."""

_PG_AUDIT_LOCK = 0x6D656461  # one transaction-scoped lock for every audit append


def _json_text(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else canonical_json(value).decode()


def _row(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at,
        "actor": event.actor,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "before_json": _json_text(event.before),
        "after_json": _json_text(event.after),
        "reason": event.reason,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def _event(row: Mapping[str, Any]) -> AuditEvent:
    """Build the domain event of a stored row; an unreadable row is a verification failure."""
    try:
        return AuditEvent(
            seq=row["seq"],
            at=row["at"],
            actor=row["actor"],
            action=row["action"],
            subject_type=row["subject_type"],
            subject_id=row["subject_id"],
            before=None if row["before_json"] is None else orjson.loads(row["before_json"]),
            after=None if row["after_json"] is None else orjson.loads(row["after_json"]),
            reason=row["reason"],
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )
    except (MedwardenError, orjson.JSONDecodeError) as exc:
        message = exc.message if isinstance(exc, MedwardenError) else str(exc)
        raise VerificationError(
            f"audit event {row['seq']} cannot be read: the stored row was altered",
            details=(message,),
            hint="the audit trail was tampered with; restore the store from a backup",
        ) from exc


def read_head(conn: Connection) -> tuple[int, str]:
    """The last stored event's ``(seq, hash)``, or ``(0, GENESIS)`` when there is none."""
    row = conn.execute(
        select(audit_event.c.seq, audit_event.c.hash).order_by(audit_event.c.seq.desc()).limit(1)
    ).first()
    return (0, GENESIS) if row is None else (int(row.seq), str(row.hash))


def append_event(conn: Connection, draft: EventDraft) -> AuditEvent:
    """Seal ``draft`` as the next event and insert it, inside ``conn``'s write transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_AUDIT_LOCK})
    seq, prev_hash = read_head(conn)
    event = seal(draft, seq + 1, prev_hash)
    conn.execute(insert(audit_event).values(_row(event)))
    return event


class SqlAuditLog:
    """The audit trail stored in ``audit_event``: append, stream, head; nothing else."""

    def __init__(self, database: Database, *, page_size: int = PAGE_SIZE) -> None:
        self._database = database
        self._page_size = page_size

    def append(self, draft: EventDraft) -> AuditEvent:
        """Seal ``draft`` as the next event and store it, in one write transaction."""
        with self._database.write("appending to the audit trail") as conn:
            return append_event(conn, draft)

    def events(self, after_seq: int = 0) -> Iterator[AuditEvent]:
        """Yield events with ``seq > after_seq`` in ``seq`` order, one page per query."""
        last = after_seq
        while True:
            rows = self._page(last)
            yield from (_event(row) for row in rows)
            if len(rows) < self._page_size:
                return
            last = int(rows[-1]["seq"])

    def _page(self, after_seq: int) -> list[Mapping[str, Any]]:
        query = (
            select(audit_event)
            .where(audit_event.c.seq > after_seq)
            .order_by(audit_event.c.seq)
            .limit(self._page_size)
        )
        with self._database.read("reading the audit trail") as conn:
            try:
                return [dict(row) for row in conn.execute(query).mappings()]
            except (ValueError, TypeError) as exc:  # a column no longer holds its type
                raise VerificationError(
                    f"audit events after seq {after_seq} cannot be read: a stored row was altered",
                    details=(str(exc),),
                    hint="the audit trail was tampered with; restore the store from a backup",
                ) from exc

    def head(self) -> tuple[int, str]:
        """The last event's ``(seq, hash)``; ``(0, GENESIS)`` when the trail is empty."""
        with self._database.read("reading the audit trail head") as conn:
            return read_head(conn)
