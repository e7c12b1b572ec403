"""Background jobs: what a job is, and the queue port the store implements.

A job is a ``kind`` (which handler runs it) and JSON ``args``; it waits in state
``queued`` until ``run_after``, is claimed by one worker (``running``, with a lease),
and ends ``done`` or — after ``max_attempts`` failed attempts — ``failed``.  A job
with a ``dedupe_key`` is enqueued at most once while queued, so "make sure a
delivery run is scheduled" can be asked any number of times.  A worker that dies
loses its lease: after ``lease`` the job can be claimed again, so delivery is
*at least once* and handlers are written to be idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from medwarden.errors import UsageError

__all__ = ["DEFAULT_LEASE", "JOB_KIND", "Job", "JobQueue", "JobState", "NewJob"]

JOB_KIND = re.compile(r"[a-z][a-z0-9_]*")
"""Job kinds are lowercase identifiers such as ``deliver_notifications``."""

DEFAULT_LEASE = timedelta(minutes=15)
"""How long a claimed job belongs to its worker before others may take it over."""


class JobState(StrEnum):
    """The life of a job."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to enqueue; ``run_after`` None means as soon as possible."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict, hash=False)
    run_after: datetime | None = None
    dedupe_key: str | None = None
    max_attempts: int = 5

    def __post_init__(self) -> None:
        """Check the kind, the dedupe key and the attempt limit."""
        if not JOB_KIND.fullmatch(self.kind):
            raise UsageError(f"job kind {self.kind!r} is not a lowercase identifier")
        if self.dedupe_key is not None and not self.dedupe_key.strip():
            raise UsageError("a job's dedupe key must not be blank")
        if self.max_attempts < 1:
            raise UsageError("a job needs at least one attempt")
        if self.run_after is not None and self.run_after.tzinfo is None:
            raise UsageError("a job's run_after must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Job:
    """A stored job; ``attempts`` counts claims so far (this one included while running)."""

    pk: int
    kind: str
    args: dict[str, Any] = field(hash=False)
    dedupe_key: str | None
    run_after: datetime
    state: JobState
    attempts: int
    max_attempts: int
    locked_by: str | None = None
    locked_at: datetime | None = None
    last_error: str | None = None


class JobQueue(Protocol):
    """The job table: enqueue, claim (one worker per job), complete, fail."""

    def enqueue(self, job: NewJob, *, at: datetime, unless_running: bool = False) -> int | None:
        """Store ``job``; return its key, or None when an equal dedupe key is queued
        (or, with ``unless_running``, running)."""
        ...

    def claim(
        self,
        worker: str,
        now: datetime,
        *,
        limit: int = 1,
        lease: timedelta = DEFAULT_LEASE,
        kinds: Collection[str] | None = None,
    ) -> list[Job]:
        """Take up to ``limit`` due jobs (or jobs whose lease expired) for ``worker``."""
        ...

    def complete(
        self, pk: int, worker: str, at: datetime, *, follow_up: NewJob | None = None
    ) -> bool:
        """Mark the job done (and enqueue ``follow_up``); False if the lease was lost."""
        ...

    def fail(
        self,
        pk: int,
        worker: str,
        at: datetime,
        error: str,
        *,
        retry_at: datetime | None,
        follow_up: NewJob | None = None,
    ) -> bool:
        """Queue the job again at ``retry_at``, or mark it failed when that is None."""
        ...
