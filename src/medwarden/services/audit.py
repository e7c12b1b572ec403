"""Audit-trail use cases: record an event, verify the chain, list recent events.

The same functions serve the CLI and (later) the API.  Verification streams the
stored events through :func:`medwarden.audit.chain.verify_chain`, so its memory
stays flat however long the trail is.
"""

from __future__ import annotations

from medwarden.audit.chain import ChainReport, Checkpoint, verify_chain
from medwarden.audit.model import AuditEvent, EventDraft
from medwarden.errors import UsageError
from medwarden.services.ports import AuditLog

__all__ = ["recent", "record", "verify"]


def record(log: AuditLog, draft: EventDraft) -> AuditEvent:
    """Append ``draft`` to the audit trail; return the sealed event."""
    return log.append(draft)


def verify(log: AuditLog, *, checkpoint: Checkpoint | None = None) -> ChainReport:
    """Verify the whole stored chain (and ``checkpoint``, if given); raise on any break."""
    return verify_chain(log.events(), checkpoint=checkpoint)


def recent(log: AuditLog, limit: int) -> list[AuditEvent]:
    """The last ``limit`` events in ``seq`` order (read as stored, not verified)."""
    if limit < 1:
        raise UsageError(f"the number of events to list must be at least 1, not {limit}")
    last, _head = log.head()
    return list(log.events(after_seq=max(0, last - limit)))
