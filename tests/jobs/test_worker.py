"""The worker loop: outcomes, retries, periodic jobs, stopping, built-in handlers, processes."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from medwarden.core.clock import FixedClock
from medwarden.errors import IntelFetchError, UsageError
from medwarden.jobs.handlers import DELIVER_JOB, MONITORING_TICK, builtin_handlers
from medwarden.jobs.worker import JOB_BACKOFF, new_worker_id, periodic_key, run_worker
from medwarden.notify.model import DeliveryState
from medwarden.services.jobs import Job, JobState, NewJob
from medwarden.services.monitoring import RunOutcome
from medwarden.store import SqlStore
from tests.jobs._processes import work
from tests.ops_helpers import T0, add_product, notification, webhook, webhook_receiver


def _counts(store: SqlStore) -> dict[str, int]:
    return {state.value: n for state, n in store.jobs.counts().items() if n}


def test_jobs_run_once_and_failures_are_retried_then_failed(store: SqlStore) -> None:
    """Handlers run once per job; a raising handler is retried after a back-off, then fails."""
    clock = FixedClock(T0)
    seen: list[int] = []
    store.jobs.enqueue(NewJob("ok", {"n": 1}), at=T0)
    store.jobs.enqueue(NewJob("ok", {"n": 2}), at=T0)
    store.jobs.enqueue(NewJob("broken", max_attempts=2), at=T0)

    def broken(job: Job) -> None:
        raise IntelFetchError("feed down")

    handlers = {"ok": lambda job: seen.append(job.args["n"]), "broken": broken}
    report = run_worker(store, handlers, clock, until_idle=True, worker="w")
    assert sorted(seen) == [1, 2]
    assert (report.done, report.retried, report.failed, report.processed) == (2, 1, 0, 3)
    assert _counts(store) == {"done": 2, "queued": 1}
    clock.set(T0 + JOB_BACKOFF.nominal(1))
    report = run_worker(store, handlers, clock, until_idle=True, worker="w")
    assert (report.failed, report.processed) == (1, 1)
    (failed,) = store.jobs.jobs(state=JobState.FAILED)
    assert failed.last_error == "[MW122] feed down"
    assert failed.attempts == 2


def test_unexpected_errors_fail_the_job_not_the_worker(store: SqlStore) -> None:
    """A bug in a handler is recorded with its type; the worker goes on."""
    store.jobs.enqueue(NewJob("bug", max_attempts=1), at=T0)
    store.jobs.enqueue(NewJob("ok"), at=T0)

    def bug(job: Job) -> None:
        raise KeyError("missing")

    report = run_worker(store, {"bug": bug, "ok": lambda j: None}, FixedClock(T0), until_idle=True)
    assert (report.done, report.failed) == (1, 1)
    (failed,) = store.jobs.jobs(state=JobState.FAILED)
    assert failed.last_error == "KeyError: 'missing'"


def test_only_kinds_with_a_handler_are_claimed(store: SqlStore) -> None:
    """Workers with other handler sets leave foreign kinds queued."""
    store.jobs.enqueue(NewJob("foreign"), at=T0)
    report = run_worker(store, {"mine": lambda j: None}, FixedClock(T0), until_idle=True)
    assert report.processed == 0
    assert _counts(store) == {"queued": 1}


def test_stop_after_and_the_stop_event(store: SqlStore) -> None:
    """``stop_after`` bounds the jobs run; a set stop event ends a polling worker."""
    for n in range(5):
        store.jobs.enqueue(NewJob("ok", {"n": n}), at=T0)
    report = run_worker(store, {"ok": lambda j: None}, FixedClock(T0), stop_after=2)
    assert report.done == 2
    stop = threading.Event()
    results = []
    thread = threading.Thread(
        target=lambda: results.append(
            run_worker(store, {"ok": lambda j: None}, FixedClock(T0), poll_interval=0.01, stop=stop)
        )
    )
    thread.start()
    while _counts(store).get("queued"):
        threading.Event().wait(0.01)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert results[0].done == 3
    assert _counts(store) == {"done": 5}


def test_periodic_jobs_reschedule_themselves(store: SqlStore) -> None:
    """A periodic kind runs at start and again ``every`` after each completion."""
    clock = FixedClock(T0)
    runs: list[str] = []
    handlers = {"tick": lambda job: runs.append(job.dedupe_key or "")}
    every = {"tick": timedelta(minutes=15)}
    run_worker(store, handlers, clock, until_idle=True, periodic=every)
    run_worker(store, handlers, clock, until_idle=True, periodic=every)  # nothing due yet
    assert runs == [periodic_key("tick")]
    (queued,) = store.jobs.jobs(state=JobState.QUEUED)
    assert queued.run_after == T0 + timedelta(minutes=15)
    clock.set(T0 + timedelta(minutes=15))
    run_worker(store, handlers, clock, until_idle=True, periodic=every)
    assert len(runs) == 2
    assert _counts(store) == {"done": 2, "queued": 1}


def test_worker_arguments_are_checked(store: SqlStore) -> None:
    """No handlers, a periodic kind without a handler, or stop_after < 1: refused."""
    clock = FixedClock(T0)
    with pytest.raises(UsageError):
        run_worker(store, {}, clock)
    with pytest.raises(UsageError, match="tick"):
        run_worker(store, {"ok": lambda j: None}, clock, periodic={"tick": timedelta(1)})
    with pytest.raises(UsageError):
        run_worker(store, {"ok": lambda j: None}, clock, stop_after=0)
    assert new_worker_id() != new_worker_id()


def test_the_delivery_handler_delivers_and_reschedules_retries(store: SqlStore) -> None:
    """The outbox queues a delivery job; a 500 makes it schedule itself for the retry."""
    clock = FixedClock(T0)
    with webhook_receiver([500]) as receiver, httpx.Client() as client:
        store.notifications.add_channel(webhook("hook", receiver.url), actor="a", at=T0)
        store.notifications.enqueue([notification("a")])
        assert [j.kind for j in store.jobs.jobs(state=JobState.QUEUED)] == [DELIVER_JOB]
        handlers = builtin_handlers(store, clock, client=client)
        run_worker(store, handlers, clock, until_idle=True)
        (follow,) = store.jobs.jobs(state=JobState.QUEUED)
        assert follow.kind == DELIVER_JOB
        assert T0 + timedelta(seconds=15) <= follow.run_after <= T0 + timedelta(seconds=30)
        clock.set(follow.run_after)
        run_worker(store, handlers, clock, until_idle=True)
    assert len(receiver.requests) == 2
    assert store.notifications.delivery_counts()[DeliveryState.DELIVERED] == 1
    assert _counts(store) == {"done": 2}


def test_the_monitoring_tick_handler_runs_due_products(store: SqlStore) -> None:
    """monitoring_tick runs the surveillance pass for due products and records the run."""
    add_product(store, "pump")
    clock = FixedClock(T0)
    with httpx.Client() as client:
        handlers = builtin_handlers(store, clock, client=client)
        store.jobs.enqueue(NewJob(MONITORING_TICK), at=T0)
        run_worker(store, handlers, clock, until_idle=True)
    (run,) = store.monitoring.runs()
    assert (run.products, run.outcome) == (("pump",), RunOutcome.SUCCEEDED)
    # the default evaluation is the portfolio surveillance pass: nothing to do here
    assert run.counts["new"] == run.counts["eos_alerts_raised"] == 0


@pytest.mark.slow
def test_two_worker_processes_run_every_job_exactly_once(store_url: str, tmp_path: Path) -> None:
    """Two spawned worker processes share N jobs: each runs exactly once, none is lost."""
    from medwarden.store import open_store

    jobs = 120
    with open_store(store_url) as store:
        for n in range(jobs):
            store.jobs.enqueue(NewJob("record", {"n": n}), at=T0)
    log = tmp_path / "executions.log"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    processes = [
        context.Process(target=work, args=(store_url, str(log), barrier)) for _ in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
    assert [p.exitcode for p in processes] == [0, 0]
    lines = [line.split() for line in log.read_text().splitlines()]
    executed = Counter(int(n) for n, _worker in lines)
    assert executed == Counter(range(jobs))  # every job, each exactly once
    by_worker = Counter(worker for _n, worker in lines)
    assert len(by_worker) == 2, by_worker  # both processes took part
    with open_store(store_url, create=False) as store:
        assert _counts(store) == {"done": jobs}
        done = store.jobs.jobs(state=JobState.DONE, limit=jobs)
        assert {j.locked_by for j in done} == set(by_worker)
        assert all(j.attempts == 1 for j in done)
