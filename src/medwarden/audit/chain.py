"""The hash chain: canonical bytes, sealing, and verification that fails closed.

Each event's hash is ``sha256(HASH_PREFIX || bytes(prev_hash) || canonical_bytes)``,
where the canonical bytes are :func:`medwarden.core.digests.canonical_json` of every
field except ``hash`` (times as RFC 3339 UTC with microseconds).  The first event's
``prev_hash`` is :data:`GENESIS`.  The prefix separates these hashes from every other
SHA-256 medwarden computes (ledger leaves and nodes, content digests).

:func:`verify_chain` reads events once, in order, keeping only the previous hash,
so its memory does not grow with the chain.  It returns a :class:`ChainReport` or
raises :class:`~medwarden.errors.VerificationError` whose message starts with
``audit event N``: the first position where the chain breaks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from medwarden.audit.model import AuditEvent, EventDraft
from medwarden.core.digests import canonical_json
from medwarden.errors import UsageError, VerificationError

__all__ = [
    "GENESIS",
    "HASH_PREFIX",
    "ChainReport",
    "Checkpoint",
    "canonical_bytes",
    "event_hash",
    "rfc3339",
    "seal",
    "verify_chain",
]

GENESIS = "0" * 64
"""The ``prev_hash`` of the first event."""

HASH_PREFIX = b"medwarden-audit-v1\x00"
"""Domain separation of audit-event hashes (and the version of the hashing scheme)."""

_CHECKPOINT = re.compile(r"(\d+):([0-9a-f]{64})")
_REWRITE_HINT = "restore the store from a backup and investigate who had write access"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A chain head recorded elsewhere: ``count`` events ending in the hash ``head``.

    Written and parsed as ``COUNT:HASH``; give it to :func:`verify_chain` to detect a
    truncated tail or a rewritten chain."""

    count: int
    head: str

    def __post_init__(self) -> None:
        """Refuse a negative count, or a hash that is not 64 lowercase hex digits."""
        if self.count < 0 or not re.fullmatch(r"[0-9a-f]{64}", self.head):
            raise UsageError(f"not an audit checkpoint: {self.count}:{self.head}")
        if self.count == 0 and self.head != GENESIS:
            raise UsageError("an audit checkpoint of 0 events has the genesis hash as head")

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse ``COUNT:HASH`` (as printed by ``medwarden audit verify``)."""
        match = _CHECKPOINT.fullmatch(text.strip().lower())
        if match is None:
            raise UsageError(
                f"not an audit checkpoint: {text!r}", hint="write it as COUNT:HASH (64 hex digits)"
            )
        return cls(int(match.group(1)), match.group(2))

    def __str__(self) -> str:
        """``COUNT:HASH``."""
        return f"{self.count}:{self.head}"


@dataclass(frozen=True, slots=True)
class ChainReport:
    """A verified chain: how many events, and the hash of the last (GENESIS when empty)."""

    count: int
    head: str

    @property
    def empty(self) -> bool:
        """Whether the chain holds no event at all (verified as empty, nothing more)."""
        return self.count == 0

    @property
    def checkpoint(self) -> Checkpoint:
        """This head as a checkpoint to record outside the database."""
        return Checkpoint(self.count, self.head)


def rfc3339(at: datetime) -> str:
    """``at`` as RFC 3339 in UTC with microseconds, e.g. ``2026-01-02T03:04:05.000006Z``."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _content(seq: int, prev_hash: str, draft: EventDraft | AuditEvent) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": rfc3339(draft.at),
        "actor": draft.actor,
        "action": draft.action,
        "subject_type": draft.subject_type,
        "subject_id": draft.subject_id,
        "before": draft.before,
        "after": draft.after,
        "reason": draft.reason,
        "prev_hash": prev_hash,
    }


def canonical_bytes(event: AuditEvent) -> bytes:
    """The bytes an event's hash covers: canonical JSON of every field except ``hash``."""
    return canonical_json(_content(event.seq, event.prev_hash, event))


def _digest(prev_hash: str, content: bytes) -> str:
    return hashlib.sha256(HASH_PREFIX + bytes.fromhex(prev_hash) + content).hexdigest()


def event_hash(event: AuditEvent) -> str:
    """Re-compute the hash ``event`` should carry, from its content and ``prev_hash``."""
    return _digest(event.prev_hash, canonical_bytes(event))


def seal(draft: EventDraft, seq: int, prev_hash: str) -> AuditEvent:
    """Seal ``draft`` as event ``seq`` following the event whose hash is ``prev_hash``."""
    content = canonical_json(_content(seq, prev_hash, draft))
    return AuditEvent(
        seq=seq,
        at=draft.at,
        actor=draft.actor,
        action=draft.action,
        subject_type=draft.subject_type,
        subject_id=draft.subject_id,
        before=draft.before,
        after=draft.after,
        reason=draft.reason,
        prev_hash=prev_hash,
        hash=_digest(prev_hash, content),
    )


def _broken(
    position: int, problem: str, *details: str, hint: str | None = None
) -> VerificationError:
    return VerificationError(
        f"audit event {position} {problem}",
        details=details,
        hint=hint or "the audit trail was tampered with; " + _REWRITE_HINT,
    )


def _check_event(event: AuditEvent, position: int, prev_hash: str) -> None:
    """Raise when ``event`` is not the valid event at ``position`` after ``prev_hash``."""
    if event.seq > position:
        raise _broken(
            position,
            "is missing (deleted or moved)",
            f"expected seq {position}, found seq {event.seq} next",
        )
    if event.seq < position:
        raise _broken(
            position,
            "is out of order (reordered, duplicated or inserted)",
            f"expected seq {position}, found seq {event.seq} after seq {position - 1}",
        )
    computed = event_hash(event)
    if computed != event.hash:
        raise _broken(
            position,
            "was altered: its content does not match its hash",
            f"stored hash   {event.hash}",
            f"content hash  {computed}",
        )
    if event.prev_hash != prev_hash:
        before = "the genesis hash" if position == 1 else f"the hash of event {position - 1}"
        raise _broken(
            position,
            f"is not linked to the chain: its prev_hash is not {before}",
            f"prev_hash     {event.prev_hash}",
            f"expected      {prev_hash}",
            "an earlier event was altered and re-hashed, or events were inserted, deleted "
            "or reordered before this one",
        )


def _check_checkpoint(checkpoint: Checkpoint, count: int, at_checkpoint: str | None) -> None:
    if count < checkpoint.count:
        first = count + 1
        raise _broken(
            first,
            "is missing: the trail was truncated",
            f"the chain ends after {count} events; the checkpoint records {checkpoint.count}",
            f"events {first}..{checkpoint.count} were deleted",
        )
    if checkpoint.count > 0 and at_checkpoint != checkpoint.head:
        raise _broken(
            checkpoint.count,
            "does not match the recorded checkpoint: the chain was rewritten",
            f"checkpoint    {checkpoint}",
            f"stored hash   {at_checkpoint}",
            "the whole chain up to this event was re-computed after the checkpoint was taken",
        )


def verify_chain(
    events: Iterable[AuditEvent], *, checkpoint: Checkpoint | None = None
) -> ChainReport:
    """Verify ``events`` (in stored order) link into one intact chain from the genesis.

    With ``checkpoint``, also check that the chain still holds that many events and
    that its event ``checkpoint.count`` has the recorded hash (a truncated tail or a
    consistently rewritten chain is detected).  Returns the count and head; raises
    :class:`~medwarden.errors.VerificationError` naming the first bad position.  An
    empty chain verifies only as empty (count 0, head :data:`GENESIS`)."""
    prev_hash = GENESIS
    count = 0
    at_checkpoint: str | None = None
    for event in events:
        _check_event(event, count + 1, prev_hash)
        count += 1
        prev_hash = event.hash
        if checkpoint is not None and count == checkpoint.count:
            at_checkpoint = event.hash
    if checkpoint is not None:
        _check_checkpoint(checkpoint, count, at_checkpoint)
    return ChainReport(count, prev_hash)
