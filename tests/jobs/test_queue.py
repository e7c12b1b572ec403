"""The job table on SQLite and PostgreSQL: dedupe while queued, claims, leases, outcomes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from medwarden.errors import NotFoundError, UsageError
from medwarden.services.jobs import Job, JobState, NewJob
from medwarden.store import SqlStore, open_store
from medwarden.store.db import resolve_url
from tests.conftest import postgres_url
from tests.ops_helpers import T0
from tests.store.conftest import fresh_pg_schema

LEASE = timedelta(minutes=1)


def _claim(store: SqlStore, worker: str, minutes: float = 0, **options: object) -> list[Job]:
    at = T0 + timedelta(minutes=minutes)
    return store.jobs.claim(worker, at, lease=LEASE, **options)  # type: ignore[arg-type]


def test_a_dedupe_key_is_queued_once(store: SqlStore) -> None:
    """While a job is queued its dedupe key cannot be queued again; once running it can."""
    jobs = store.jobs
    first = jobs.enqueue(NewJob("sweep", dedupe_key="sweep"), at=T0)
    assert first is not None
    assert jobs.enqueue(NewJob("sweep", dedupe_key="sweep"), at=T0) is None
    assert jobs.enqueue(NewJob("sweep"), at=T0) is not None  # no key: never deduplicated
    (claimed,) = _claim(store, "w1", limit=1)
    assert claimed.pk == first
    second = jobs.enqueue(NewJob("sweep", dedupe_key="sweep"), at=T0)
    assert second is not None
    # the running job fails and would be retried, but its twin is queued: it gives way
    assert jobs.fail(first, "w1", T0, "boom", retry_at=T0 + timedelta(minutes=5)) is True
    failed = jobs.get(first)
    assert failed.state is JobState.FAILED
    assert failed.last_error is not None
    assert "queued again" in failed.last_error
    assert jobs.get(second).state is JobState.QUEUED


def test_claims_take_due_jobs_in_order_and_only_known_kinds(store: SqlStore) -> None:
    """Due jobs by run_after; future jobs and other kinds stay queued."""
    jobs = store.jobs
    late = jobs.enqueue(NewJob("a", {"n": 2}, run_after=T0 + timedelta(minutes=10)), at=T0)
    early = jobs.enqueue(NewJob("a", {"n": 1}), at=T0)
    other = jobs.enqueue(NewJob("b"), at=T0)
    assert _claim(store, "w", kinds=set()) == []
    assert _claim(store, "w", limit=0) == []
    (job,) = _claim(store, "w", kinds={"a"}, limit=5)
    assert (job.pk, job.args, job.state, job.attempts, job.locked_by) == (
        early,
        {"n": 1},
        JobState.RUNNING,
        1,
        "w",
    )
    # ten minutes on: the rest is due, and "early"'s one-minute lease has expired
    claimed = _claim(store, "w", 10, kinds={"a", "b"}, limit=5)
    assert [(j.pk, j.attempts) for j in claimed] == [(early, 2), (other, 1), (late, 1)]
    assert store.jobs.counts() == {
        JobState.QUEUED: 0,
        JobState.RUNNING: 3,
        JobState.DONE: 0,
        JobState.FAILED: 0,
    }


def test_an_expired_lease_makes_a_job_claimable_again(store: SqlStore) -> None:
    """A dead worker's job goes to another worker after the lease; the first loses it."""
    pk = store.jobs.enqueue(NewJob("a", max_attempts=2), at=T0)
    assert pk is not None
    assert [j.pk for j in _claim(store, "w1")] == [pk]
    assert _claim(store, "w2", 0.5) == []
    (again,) = _claim(store, "w2", 2)
    assert (again.locked_by, again.attempts) == ("w2", 2)
    assert store.jobs.complete(pk, "w1", T0) is False
    assert store.jobs.fail(pk, "w1", T0, "late", retry_at=None) is False
    # w2 dies too: no attempt is left, so the next claim marks the job failed
    assert _claim(store, "w3", 5) == []
    abandoned = store.jobs.get(pk)
    assert abandoned.state is JobState.FAILED
    assert abandoned.last_error == "the worker's lease expired on the last allowed attempt"


def test_outcomes_and_follow_ups(store: SqlStore) -> None:
    """complete/fail record the outcome and may enqueue a follow-up in the same transaction."""
    jobs = store.jobs
    a = jobs.enqueue(NewJob("a"), at=T0)
    b = jobs.enqueue(NewJob("b"), at=T0)
    assert a is not None
    assert b is not None
    _claim(store, "w", limit=2)
    follow = NewJob("a", dedupe_key="next", run_after=T0 + timedelta(hours=1))
    assert jobs.complete(a, "w", T0, follow_up=follow) is True
    assert jobs.get(a).state is JobState.DONE
    assert jobs.fail(b, "w", T0, "x" * 5000, retry_at=T0 + timedelta(minutes=1)) is True
    retried = jobs.get(b)
    assert retried.state is JobState.QUEUED
    assert retried.run_after == T0 + timedelta(minutes=1)
    assert retried.last_error is not None
    assert len(retried.last_error) == 2000  # clipped
    assert [j.pk for j in _claim(store, "w", 2, kinds={"b"})] == [b]
    assert jobs.fail(b, "w", T0, "final", retry_at=None, follow_up=NewJob("c")) is True
    assert jobs.get(b).state is JobState.FAILED
    queued = jobs.jobs(state=JobState.QUEUED)
    assert sorted((j.kind, j.dedupe_key) for j in queued) == [("a", "next"), ("c", None)]
    assert len(jobs.jobs()) == 4
    with pytest.raises(NotFoundError):
        jobs.get(999_999)


def test_new_jobs_are_checked() -> None:
    """Kinds are identifiers; dedupe keys not blank; attempts positive; times aware."""
    for options in (
        {"kind": "Bad Kind"},
        {"kind": "a", "dedupe_key": " "},
        {"kind": "a", "max_attempts": 0},
        {"kind": "a", "run_after": T0.replace(tzinfo=None)},
    ):
        with pytest.raises(UsageError):
            NewJob(**options)  # type: ignore[arg-type]


@pytest.fixture
def pg_store() -> Iterator[SqlStore]:
    """A fresh store on PostgreSQL only."""
    base = postgres_url()
    if base is None:
        pytest.skip("MEDWARDEN_TEST_PG_URL is not set")
    with fresh_pg_schema(base) as url, open_store(url) as opened:
        yield opened


@pytest.mark.postgres
def test_postgres_claims_skip_rows_locked_by_another_transaction(pg_store: SqlStore) -> None:
    """A row locked by another worker's claim transaction is skipped, not waited for."""
    store = pg_store
    first = store.jobs.enqueue(NewJob("a"), at=T0)
    second = store.jobs.enqueue(NewJob("a"), at=T0)
    engine = create_engine(resolve_url(store.database.engine.url.render_as_string(False)))
    claimed: list[Job] = []
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT pk FROM job WHERE pk = :pk FOR UPDATE"), {"pk": first})
            thread = threading.Thread(target=lambda: claimed.extend(_claim(store, "w", limit=2)))
            thread.start()
            thread.join(timeout=20)
            assert not thread.is_alive(), "the claim waited for the locked row"
    finally:
        engine.dispose()
    assert [j.pk for j in claimed] == [second]
    assert [j.pk for j in _claim(store, "w2", limit=2)] == [first]
