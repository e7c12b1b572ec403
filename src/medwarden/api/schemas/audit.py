"""The audit trail: events as stored, and the result of verifying the chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from medwarden.audit.model import AuditEvent

__all__ = ["AuditEventOut", "VerificationOut"]


class AuditEventOut(BaseModel):
    """One event of the hash-chained audit trail, as stored (not verified)."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        """The DTO of a stored event."""
        return cls(
            seq=event.seq,
            at=event.at,
            actor=event.actor,
            action=event.action,
            subject_type=event.subject_type,
            subject_id=event.subject_id,
            before=event.before,
            after=event.after,
            reason=event.reason,
            prev_hash=event.prev_hash,
            hash=event.hash,
        )


class VerificationOut(BaseModel):
    """Whether the stored chain verifies; on failure, the first broken event's problem."""

    intact: bool
    count: int | None = None
    head: str | None = None
    checkpoint: str | None = None
    matches_checkpoint: bool | None = None
    code: str | None = None
    detail: str | None = None
