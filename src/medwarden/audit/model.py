"""Audit events: what happened, to what, by whom, when, why, and the state before and after.

An :class:`EventDraft` is what a use case asks to record; an :class:`AuditEvent` is
a draft sealed into the chain (sequence number, predecessor's hash, own hash; see
:mod:`medwarden.audit.chain`).  Both check their content when built, so that every
event can be stored on SQLite and PostgreSQL and hashed the same way after reading it
back: timestamps are aware UTC, text is valid UTF-8 without control characters, and
``before``/``after`` are plain JSON objects (tuples become lists; non-finite floats,
non-string keys and integers beyond 64 bits are refused).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from medwarden.errors import UsageError

__all__ = ["ACTION_PATTERN", "AuditEvent", "EventDraft", "JsonObject"]

JsonObject = dict[str, Any]
"""A JSON object as Python values: str keys; str, int, float, bool, None, list, dict values."""

ACTION_PATTERN = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
"""Actions are namespaced: ``area.verb`` such as ``intel.load`` or ``triage.decide``."""

_HEX64 = re.compile(r"[0-9a-f]{64}")
_INT_RANGE = (-(2**63), 2**63 - 1)
_REASON_CONTROLS = frozenset("\n\t")


def _check_text(name: str, value: object, *, allowed: frozenset[str] = frozenset()) -> str:
    """Return ``value`` if it is non-empty UTF-8 text without control characters."""
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"audit event {name} must be non-empty text, not {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"audit event {name} is not valid Unicode text") from None
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in value):
        raise UsageError(f"audit event {name} contains control characters: {value!r}")
    return value


def _plain_json(value: Any, path: str) -> Any:
    """Return ``value`` as plain JSON (tuples become lists), refusing what JSON cannot hold."""
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str):
            _check_unicode(value, path)
        return value
    if isinstance(value, int):
        if not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            raise UsageError(f"audit event field {path} holds an integer beyond 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UsageError(f"audit event field {path} holds a non-finite number")
        return value
    if isinstance(value, list | tuple):
        return [_plain_json(item, f"{path}/{i}") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return _plain_object(value, path)
    raise UsageError(f"audit event field {path} holds a {type(value).__name__}, not JSON")


def _plain_object(value: Mapping[Any, Any], path: str) -> JsonObject:
    out: JsonObject = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise UsageError(f"audit event field {path} has a non-text key {key!r}")
        _check_unicode(key, path)
        out[key] = _plain_json(item, f"{path}/{key}")
    return out


def _check_unicode(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"audit event field {path} holds invalid Unicode text") from None


def _state(name: str, value: object) -> JsonObject | None:
    """``before``/``after``: None or a JSON object, normalised to plain values."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise UsageError(f"audit event {name} must be a JSON object or None")
    return _plain_object(value, name)


def _utc(value: object) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise UsageError(f"audit event time must be a timezone-aware datetime, not {value!r}")
    return value.astimezone(UTC)


def _normalise_content(obj: EventDraft | AuditEvent) -> None:
    """Check and normalise the fields a draft and a sealed event share (in place, once)."""
    object.__setattr__(obj, "at", _utc(obj.at))
    _check_text("actor", obj.actor)
    if not isinstance(obj.action, str) or not ACTION_PATTERN.fullmatch(obj.action):
        raise UsageError(
            f"audit action {obj.action!r} is not namespaced",
            hint="use lowercase area.verb, for example intel.load or triage.decide",
        )
    _check_text("subject_type", obj.subject_type)
    _check_text("subject_id", obj.subject_id)
    object.__setattr__(obj, "before", _state("before", obj.before))
    object.__setattr__(obj, "after", _state("after", obj.after))
    if obj.reason is not None:
        _check_text("reason", obj.reason, allowed=_REASON_CONTROLS)


@dataclass(frozen=True, slots=True)
class EventDraft:
    """What a use case asks the audit trail to record (not yet sealed into the chain)."""

    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    before: JsonObject | None = field(default=None, hash=False)
    after: JsonObject | None = field(default=None, hash=False)
    reason: str | None = None

    def __post_init__(self) -> None:
        """Check every field; normalise the time to UTC and the states to plain JSON."""
        _normalise_content(self)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One sealed event of the chain: a draft plus ``seq``, ``prev_hash`` and its ``hash``.

    Build it with :func:`medwarden.audit.chain.seal`; a stored event read back is
    checked with :func:`medwarden.audit.chain.verify_chain`."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    before: JsonObject | None = field(hash=False)
    after: JsonObject | None = field(hash=False)
    reason: str | None
    prev_hash: str
    hash: str

    def __post_init__(self) -> None:
        """Check every field as :class:`EventDraft` does, plus the sequence and the hashes."""
        if isinstance(self.seq, bool) or not isinstance(self.seq, int) or self.seq < 1:
            raise UsageError(f"audit event seq must be an integer >= 1, not {self.seq!r}")
        for name in ("prev_hash", "hash"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _HEX64.fullmatch(value):
                raise UsageError(f"audit event {name} must be 64 lowercase hex digits")
        _normalise_content(self)

    @property
    def draft(self) -> EventDraft:
        """The event's content without its place in the chain."""
        return EventDraft(
            at=self.at,
            actor=self.actor,
            action=self.action,
            subject_type=self.subject_type,
            subject_id=self.subject_id,
            before=self.before,
            after=self.after,
            reason=self.reason,
        )
