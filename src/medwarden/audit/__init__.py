"""The audit trail: append-only, hash-chained events of every decision, change and import.

:class:`EventDraft` is what a use case wants recorded; :func:`seal` turns it into an
:class:`AuditEvent` linked to its predecessor; :func:`verify_chain` re-computes a
stream of events and raises :class:`~medwarden.errors.VerificationError` naming the
first event that was altered, deleted, inserted or moved.  See
``docs/adr/0007-audit-trail.md``.
"""

from __future__ import annotations

from medwarden.audit.chain import (
    GENESIS,
    HASH_PREFIX,
    ChainReport,
    Checkpoint,
    canonical_bytes,
    event_hash,
    seal,
    verify_chain,
)
from medwarden.audit.model import AuditEvent, EventDraft

__all__ = [
    "GENESIS",
    "HASH_PREFIX",
    "AuditEvent",
    "ChainReport",
    "Checkpoint",
    "EventDraft",
    "canonical_bytes",
    "event_hash",
    "seal",
    "verify_chain",
]
