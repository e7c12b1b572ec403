"""The job queue in table ``job``: enqueue (deduplicated), claim, complete, fail.

Claiming is one write transaction: on PostgreSQL the due rows are selected with
``FOR UPDATE SKIP LOCKED``, so concurrent workers each lock different rows and never
wait for one another; on SQLite the transaction holds the database write lock
(``BEGIN IMMEDIATE``), which serialises claims.  A claimed job is ``running`` with
``locked_by``/``locked_at``; a job whose lease expired (its worker died) is claimable
again, and one that has used up its attempts that way is marked failed instead.
:func:`enqueue_job` runs inside a caller's transaction, so a change and the job that
follows it up commit together.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, RowMapping, and_, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from medwarden.errors import NotFoundError
from medwarden.services.jobs import DEFAULT_LEASE, Job, JobState, NewJob
from medwarden.store._ops import clip, dialect_insert, from_json, to_json
from medwarden.store.schema_ops import job

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["SqlJobs", "claim_jobs", "enqueue_job"]

_QUEUED = text("state = 'queued'")  # the predicate of the partial unique index on dedupe_key


def enqueue_job(
    conn: Connection, new: NewJob, *, at: datetime, unless_running: bool = False
) -> int | None:
    """Insert ``new`` inside ``conn``'s transaction; None when its dedupe key is queued.

    With ``unless_running`` a job whose dedupe key is *running* is not enqueued either
    (periodic jobs: a worker starting while another runs the tick adds no second one)."""
    if unless_running and new.dedupe_key is not None:
        running = conn.execute(
            select(job.c.pk)
            .where(job.c.dedupe_key == new.dedupe_key, job.c.state == JobState.RUNNING.value)
            .limit(1)
        ).first()
        if running is not None:
            return None
    values = {
        "kind": new.kind,
        "args_json": to_json(new.args),
        "dedupe_key": new.dedupe_key,
        "run_after": new.run_after or at,
        "state": JobState.QUEUED.value,
        "attempts": 0,
        "max_attempts": new.max_attempts,
        "created_at": at,
    }
    stmt = dialect_insert(conn, job).values(values)
    if new.dedupe_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=[job.c.dedupe_key], index_where=_QUEUED)
    row = conn.execute(stmt.returning(job.c.pk)).first()
    return None if row is None else int(row[0])


def _job(row: RowMapping) -> Job:
    return Job(
        pk=int(row["pk"]),
        kind=row["kind"],
        args=from_json(row["args_json"]),
        dedupe_key=row["dedupe_key"],
        run_after=row["run_after"],
        state=JobState(row["state"]),
        attempts=int(row["attempts"]),
        max_attempts=int(row["max_attempts"]),
        locked_by=row["locked_by"],
        locked_at=row["locked_at"],
        last_error=row["last_error"],
    )


def claim_jobs(
    conn: Connection,
    worker: str,
    now: datetime,
    *,
    limit: int = 1,
    lease: timedelta = DEFAULT_LEASE,
    kinds: Collection[str] | None = None,
) -> list[Job]:
    """Claim up to ``limit`` due jobs for ``worker`` inside ``conn``'s write transaction."""
    if limit < 1 or (kinds is not None and not kinds):
        return []
    c = job.c
    due = or_(
        and_(c.state == JobState.QUEUED.value, c.run_after <= now),
        and_(c.state == JobState.RUNNING.value, c.locked_at <= now - lease),
    )
    query = select(c.pk, c.state, c.attempts, c.max_attempts).where(due)
    if kinds is not None:
        query = query.where(c.kind.in_(sorted(kinds)))
    query = query.order_by(c.run_after, c.pk).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    abandoned = [
        r.pk for r in rows if r.state == JobState.RUNNING.value and r.attempts >= r.max_attempts
    ]
    taken = [r.pk for r in rows if r.pk not in abandoned]
    if abandoned:
        conn.execute(
            update(job)
            .where(c.pk.in_(abandoned))
            .values(
                state=JobState.FAILED.value,
                finished_at=now,
                last_error="the worker's lease expired on the last allowed attempt",
            )
        )
    if not taken:
        return []
    conn.execute(
        update(job)
        .where(c.pk.in_(taken))
        .values(
            state=JobState.RUNNING.value,
            locked_by=worker,
            locked_at=now,
            attempts=c.attempts + 1,
        )
    )
    claimed = conn.execute(select(job).where(c.pk.in_(taken)).order_by(c.run_after, c.pk))
    return [_job(row) for row in claimed.mappings()]


def _held(pk: int, worker: str) -> Any:
    return and_(job.c.pk == pk, job.c.state == JobState.RUNNING.value, job.c.locked_by == worker)


class SqlJobs:
    """The job queue of the store (:class:`~medwarden.services.jobs.JobQueue`)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def enqueue(self, new: NewJob, *, at: datetime, unless_running: bool = False) -> int | None:
        """Store ``new``; return its key, or None when an equal dedupe key is queued
        (or, with ``unless_running``, running)."""
        with self._database.write("enqueuing a job") as conn:
            return enqueue_job(conn, new, at=at, unless_running=unless_running)

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
        with self._database.write("claiming jobs") as conn:
            return claim_jobs(conn, worker, now, limit=limit, lease=lease, kinds=kinds)

    def complete(
        self, pk: int, worker: str, at: datetime, *, follow_up: NewJob | None = None
    ) -> bool:
        """Mark the job done (and enqueue ``follow_up``); False if ``worker`` lost the lease."""
        with self._database.write("completing a job") as conn:
            done = conn.execute(
                update(job)
                .where(_held(pk, worker))
                .values(state=JobState.DONE.value, finished_at=at, last_error=None)
            )
            if done.rowcount == 0:
                return False
            if follow_up is not None:
                enqueue_job(conn, follow_up, at=at)
            return True

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
        """Queue the job again at ``retry_at``, or mark it failed when that is None.

        A job whose dedupe key was queued again meanwhile is marked failed (the queued
        twin does the work).  Returns False if ``worker`` lost the lease."""
        message = clip(error)
        with self._database.write("recording a failed job") as conn:
            if retry_at is not None:
                try:
                    with conn.begin_nested():
                        requeued = conn.execute(
                            update(job)
                            .where(_held(pk, worker))
                            .values(
                                state=JobState.QUEUED.value, run_after=retry_at, last_error=message
                            )
                        )
                    return requeued.rowcount > 0
                except IntegrityError:
                    message = clip(f"{error} (not retried: the same job is queued again)")
            failed = conn.execute(
                update(job)
                .where(_held(pk, worker))
                .values(state=JobState.FAILED.value, finished_at=at, last_error=message)
            )
            if failed.rowcount == 0:
                return False
            if follow_up is not None:
                enqueue_job(conn, follow_up, at=at)
            return True

    def get(self, pk: int) -> Job:
        """The job with key ``pk``."""
        with self._database.read("reading a job") as conn:
            row = conn.execute(select(job).where(job.c.pk == pk)).mappings().first()
        if row is None:
            raise NotFoundError(f"no job {pk}")
        return _job(row)

    def jobs(self, *, state: JobState | None = None, limit: int = 100) -> list[Job]:
        """The latest ``limit`` jobs (in one state, if given), newest first."""
        query = select(job).order_by(job.c.pk.desc()).limit(limit)
        if state is not None:
            query = query.where(job.c.state == state.value)
        with self._database.read("listing jobs") as conn:
            return [_job(row) for row in conn.execute(query).mappings()]

    def counts(self) -> dict[JobState, int]:
        """How many jobs are in each state."""
        with self._database.read("counting jobs") as conn:
            rows = conn.execute(select(job.c.state, func.count()).group_by(job.c.state)).all()
        found = {JobState(state): int(n) for state, n in rows}
        return {state: found.get(state, 0) for state in JobState}
