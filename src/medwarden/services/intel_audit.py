"""Audit events of intelligence loads and syncs (``intel.load``, ``intel.sync``).

One event per load or sync, recorded once it ended: what was read (paths or feed),
how many records, inserted/updated/unchanged per source, and the outcome.  A load
stopped by bad input is recorded too (outcome ``failed``, the error's code and
message), because the units written before the error stay written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from medwarden.audit.model import EventDraft
from medwarden.errors import MedwardenError, UsageError
from medwarden.services.ports import AuditLog, UpsertCounts

__all__ = ["SUBJECT_TYPE", "intel_event", "require_actor"]

SUBJECT_TYPE = "intel_mirror"
"""The subject type of intelligence events; the subject id names the sources touched."""


def require_actor(audit: AuditLog | None, actor: str | None) -> str | None:
    """Refuse an audited load without an actor (before anything is written)."""
    if audit is not None and (actor is None or not actor.strip()):
        raise UsageError(
            "an audited intelligence load needs an actor",
            hint="pass actor= (the CLI uses the OS user name or --actor)",
        )
    return actor


def _counts(counts: Mapping[str, UpsertCounts]) -> dict[str, dict[str, int]]:
    return {
        source: {"inserted": c.inserted, "updated": c.updated, "unchanged": c.unchanged}
        for source, c in sorted(counts.items())
    }


def intel_event(
    action: str,
    *,
    actor: str,
    at: datetime,
    counts: Mapping[str, UpsertCounts],
    records: int,
    inputs: Mapping[str, Any],
    error: MedwardenError | None = None,
) -> EventDraft:
    """The draft of one ``intel.load``/``intel.sync`` event."""
    after: dict[str, Any] = {
        **inputs,
        "outcome": "completed" if error is None else "failed",
        "records": records,
        "counts": _counts(counts),
    }
    if error is not None:
        after["error"] = {"code": error.code, "message": error.message}
    return EventDraft(
        at=at,
        actor=actor,
        action=action,
        subject_type=SUBJECT_TYPE,
        subject_id=",".join(sorted(counts)) or "nothing",
        after=after,
    )
