"""The worker loop: claim a due job, run its handler, record the outcome, repeat.

Any number of workers (threads of one process, processes, machines) can poll the
same store: a job is claimed by exactly one of them (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, the write lock on SQLite) and carries a lease, so a crashed worker's job
is picked up again once the lease expires.  A handler that raises fails the attempt:
the job is queued again after a back-off, or marked failed once it used up its
``max_attempts``.  *Periodic* kinds are enqueued at start (one per kind, deduplicated)
and re-enqueued ``every`` after each completion, which is how the monitoring tick and
the delivery sweep keep running without an external scheduler.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from medwarden.core.backoff import BackoffPolicy
from medwarden.core.clock import Clock
from medwarden.errors import MedwardenError, UsageError
from medwarden.services.jobs import DEFAULT_LEASE, Job, NewJob

if TYPE_CHECKING:
    from medwarden.store.intel_repository import SqlStore

__all__ = [
    "JOB_BACKOFF",
    "JobHandler",
    "WorkerReport",
    "new_worker_id",
    "periodic_key",
    "run_worker",
]

log = logging.getLogger(__name__)

JobHandler = Callable[[Job], object]
"""Runs one job; raising fails the attempt (its message is stored, never a secret)."""

JOB_BACKOFF = BackoffPolicy(base=timedelta(seconds=10), cap=timedelta(hours=1))
"""Waits between attempts of a failing job (the job's ``max_attempts`` bounds them)."""


@dataclass(frozen=True, slots=True)
class WorkerReport:
    """What one worker did before it stopped."""

    worker: str
    done: int = 0
    retried: int = 0
    failed: int = 0
    lost: int = 0

    @property
    def processed(self) -> int:
        """Jobs this worker ran, whatever their outcome."""
        return self.done + self.retried + self.failed + self.lost


def new_worker_id() -> str:
    """A worker name unique across machines and restarts: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def periodic_key(kind: str) -> str:
    """The dedupe key of the periodic job of ``kind``."""
    return f"periodic:{kind}"


def _error_text(exc: Exception) -> str:
    if isinstance(exc, MedwardenError):
        return f"[{exc.code}] {exc.message}"
    return f"{type(exc).__name__}: {exc}"


class _Loop:
    """The state of one worker: its counters and how to run one job."""

    def __init__(
        self,
        store: SqlStore,
        handlers: Mapping[str, JobHandler],
        clock: Clock,
        worker: str,
        backoff: BackoffPolicy,
        periodic: Mapping[str, timedelta],
    ) -> None:
        self.store = store
        self.handlers = handlers
        self.clock = clock
        self.worker = worker
        self.backoff = backoff
        self.periodic = periodic
        self.counts = {"done": 0, "retried": 0, "failed": 0, "lost": 0}

    def schedule_periodic(self) -> None:
        now = self.clock.now()
        for kind in sorted(self.periodic):
            periodic_job = NewJob(kind, dedupe_key=periodic_key(kind))
            self.store.jobs.enqueue(periodic_job, at=now, unless_running=True)

    def _follow_up(self, job: Job) -> NewJob | None:
        every = self.periodic.get(job.kind)
        if every is None or job.dedupe_key != periodic_key(job.kind):
            return None
        return NewJob(
            job.kind,
            args=job.args,
            run_after=self.clock.now() + every,
            dedupe_key=job.dedupe_key,
            max_attempts=job.max_attempts,
        )

    def run(self, job: Job) -> None:
        handler = self.handlers[job.kind]
        try:
            handler(job)
        except Exception as exc:  # a failing handler fails its job, never the worker
            self._failed(job, exc)
            return
        kept = self.store.jobs.complete(
            job.pk, self.worker, self.clock.now(), follow_up=self._follow_up(job)
        )
        self.counts["done" if kept else "lost"] += 1

    def _failed(self, job: Job, exc: Exception) -> None:
        message = _error_text(exc)
        if isinstance(exc, MedwardenError):
            log.warning("job %s (%s) failed: %s", job.pk, job.kind, message)
        else:
            log.error("job %s (%s) failed unexpectedly", job.pk, job.kind, exc_info=exc)
        now = self.clock.now()
        retry_at = None
        if job.attempts < job.max_attempts:
            retry_at = now + self.backoff.wait(job.attempts)
        kept = self.store.jobs.fail(
            job.pk,
            self.worker,
            now,
            message,
            retry_at=retry_at,
            follow_up=None if retry_at is not None else self._follow_up(job),
        )
        if not kept:
            self.counts["lost"] += 1
        else:
            self.counts["retried" if retry_at is not None else "failed"] += 1


def run_worker(
    store: SqlStore,
    handlers: Mapping[str, JobHandler],
    clock: Clock,
    *,
    stop_after: int | None = None,
    poll_interval: float = 1.0,
    until_idle: bool = False,
    worker: str | None = None,
    lease: timedelta = DEFAULT_LEASE,
    backoff: BackoffPolicy = JOB_BACKOFF,
    periodic: Mapping[str, timedelta] | None = None,
    stop: threading.Event | None = None,
    sleep: Callable[[float], object] | None = None,
) -> WorkerReport:
    """Run jobs of the kinds in ``handlers`` until told to stop; return what was done.

    Stops after ``stop_after`` jobs, when ``stop`` is set, or — with ``until_idle`` —
    as soon as no job is due.  Otherwise it polls every ``poll_interval`` seconds
    while the queue is empty.  ``periodic`` maps kinds to their interval (see the
    module documentation); each kind needs a handler.  Only kinds with a handler are
    claimed, so workers with different handler sets can share one queue."""
    if not handlers:
        raise UsageError("a worker needs at least one job handler")
    if stop_after is not None and stop_after < 1:
        raise UsageError("stop_after must be at least 1")
    schedule = dict(periodic or {})
    unknown = sorted(set(schedule) - set(handlers))
    if unknown:
        raise UsageError(f"periodic job kinds without a handler: {', '.join(unknown)}")
    name = worker or new_worker_id()
    loop = _Loop(store, handlers, clock, name, backoff, schedule)
    loop.schedule_periodic()
    pause = sleep or (stop.wait if stop is not None else time.sleep)
    processed = 0
    while stop is None or not stop.is_set():
        jobs = store.jobs.claim(name, clock.now(), limit=1, lease=lease, kinds=handlers.keys())
        if not jobs:
            if until_idle:
                break
            pause(poll_interval)
            continue
        for job in jobs:
            loop.run(job)
            processed += 1
        if stop_after is not None and processed >= stop_after:
            break
    return WorkerReport(name, **loop.counts)
