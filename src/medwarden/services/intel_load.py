"""The intel-load use case: files, directories and OSV zips into the intelligence store.

The input is split into work units (:func:`medwarden.intel.files.plan_units`: a
file, or a slice of an OSV zip).  Each unit is parsed and written, one store
transaction per unit and kind of record, either in this process or — for large
loads — in worker processes that each open the store themselves: parsing (the
CPU-heavy part) then runs on every core while the store serialises the writes.
Memory stays flat however large the input.  Results do not depend on the order
units finish in, because a stored record is only ever replaced by a newer one.  A
malformed file stops the load with its error; units already written stay written
(a re-run is idempotent: unchanged records count as unchanged).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Protocol

from medwarden.core.clock import Clock
from medwarden.errors import InputError
from medwarden.intel.files import WorkUnit, iter_unit, plan_units
from medwarden.intel.model import Advisory, EpssScore, IntelRecord, KevEntry, Source
from medwarden.services.intel_audit import intel_event, require_actor
from medwarden.services.ports import AuditLog, IntelStore, UpsertCounts

__all__ = [
    "BATCH_SIZE",
    "LoadProgress",
    "LoadReport",
    "SyncBatchLike",
    "load_paths",
    "store_batches",
]

BATCH_SIZE = 5_000

PARALLEL_THRESHOLD_BYTES = 32 * 1024**2
"""Below this much input, worker processes cost more to start than they save."""


@dataclass(frozen=True, slots=True)
class LoadProgress:
    """Reported after each batch: how many records are written so far, and from where."""

    path: Path
    records: int


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What a load did: counts per source, records read, paths and elapsed seconds."""

    counts: dict[str, UpsertCounts]
    records: int
    paths: tuple[Path, ...]
    seconds: float
    batches: int = field(default=0)

    @property
    def rate(self) -> float:
        """Records per second (0 when nothing took measurable time)."""
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def total(self) -> UpsertCounts:
        """Counts summed over every source."""
        return sum(self.counts.values(), UpsertCounts())


class _Batcher:
    """Buffers records per (kind, source) and writes full buffers to the store."""

    def __init__(self, store: IntelStore) -> None:
        self.store = store
        self.buffers: dict[str, list[IntelRecord]] = {}
        self.counts: dict[str, UpsertCounts] = {}
        self.written = 0
        self.batches = 0

    def add(self, record: IntelRecord) -> bool:
        """Buffer ``record``; return whether a batch was written."""
        key = _source_of(record)
        buffer = self.buffers.setdefault(key, [])
        buffer.append(record)
        if len(buffer) >= BATCH_SIZE:
            self.flush(key)
            return True
        return False

    def flush(self, key: str) -> None:
        """Write the buffer of ``key`` (if any) in one store call."""
        buffer = self.buffers.pop(key, [])
        if not buffer:
            return
        counts = _write(self.store, key, buffer)
        self.counts[key] = self.counts.get(key, UpsertCounts()) + counts
        self.written += len(buffer)
        self.batches += 1

    def flush_all(self) -> None:
        """Write every remaining buffer."""
        for key in sorted(self.buffers):
            self.flush(key)


def _source_of(record: IntelRecord) -> str:
    if isinstance(record, KevEntry):
        return Source.KEV.value
    if isinstance(record, EpssScore):
        return Source.EPSS.value
    return record.source.value


def _write(store: IntelStore, key: str, records: Sequence[IntelRecord]) -> UpsertCounts:
    if key == Source.KEV.value:
        return store.upsert_kev([r for r in records if isinstance(r, KevEntry)])
    if key == Source.EPSS.value:
        return store.upsert_epss([r for r in records if isinstance(r, EpssScore)])
    return store.upsert_advisories([r for r in records if isinstance(r, Advisory)])


def _record_load_time(store: IntelStore, sources: Iterable[str], clock: Clock) -> None:
    """Stamp each loaded source's last-load time, keeping its sync cursor where it was."""
    names = list(sources)
    if not names:
        return
    cursors = {row.source: row.cursor for row in store.status()}
    now = clock.now()
    for name in names:
        store.set_cursor(name, cursors.get(name) or "", now)


@dataclass(frozen=True, slots=True)
class _Job:
    """One unit of work (plain, picklable data)."""

    unit: WorkUnit
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What loading one unit did: counts per source, records read."""

    counts: dict[str, UpsertCounts]
    records: int


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector.

    Loading allocates millions of acyclic objects (parsed JSON, records, rows); the
    collections they trigger cost more than the parsing itself (measured: 3.4x on
    ``orjson.loads`` of an NVD page).  Reference counting still frees everything."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load_unit(store: IntelStore, job: _Job) -> _Outcome:
    """Parse one unit and write it: one transaction per kind of record."""
    with _gc_paused():
        advisories: dict[str, list[Advisory]] = {}
        kev: list[KevEntry] = []
        epss: list[EpssScore] = []
        records = 0
        for record in iter_unit(job.unit, fetched_at=job.fetched_at):
            records += 1
            if isinstance(record, KevEntry):
                kev.append(record)
            elif isinstance(record, EpssScore):
                epss.append(record)
            else:
                advisories.setdefault(record.source.value, []).append(record)
        counts = {src: store.upsert_advisories(batch) for src, batch in sorted(advisories.items())}
        if kev:
            counts[Source.KEV.value] = store.upsert_kev(kev)
        if epss:
            counts[Source.EPSS.value] = store.upsert_epss(epss)
    return _Outcome(counts, records)


_worker_store: list[IntelStore] = []
"""The store a worker process writes to (opened once by :func:`_start_worker`)."""


def _start_worker(opener: Callable[[], IntelStore]) -> None:
    _worker_store.append(opener())


def _load_in_worker(job: _Job) -> _Outcome:
    return _load_unit(_worker_store[0], job)


def default_workers(total_bytes: int) -> int:
    """Worker processes for a load of ``total_bytes``: none for small loads, else one per core."""
    cores = os.cpu_count() or 1
    if total_bytes < PARALLEL_THRESHOLD_BYTES or cores < 2:
        return 0
    return cores


def _outcomes(store: IntelStore, jobs: list[_Job], workers: int) -> Iterator[_Outcome]:
    """Load ``jobs`` here (``workers == 0``) or in worker processes, yielding in job order.

    Each worker opens the store once and writes its own units; the store serialises
    writers, so only parsing runs in parallel.  At most ``2 * workers`` units are in
    flight."""
    if workers == 0:
        yield from (_load_unit(store, job) for job in jobs)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(store.opener(),)
    ) as pool:
        queue = iter(jobs)
        pending: deque[Future[_Outcome]] = deque(
            pool.submit(_load_in_worker, job) for job in islice(queue, 2 * workers)
        )
        try:
            while pending:
                outcome = pending.popleft().result()
                for job in islice(queue, 1):
                    pending.append(pool.submit(_load_in_worker, job))
                yield outcome
        finally:
            for future in pending:
                future.cancel()


class _Totals:
    """Counts per source and records read, accumulated over the units."""

    def __init__(self) -> None:
        self.counts: dict[str, UpsertCounts] = {}
        self.records = 0
        self.batches = 0

    def add(self, outcome: _Outcome) -> None:
        for source, counts in outcome.counts.items():
            self.counts[source] = self.counts.get(source, UpsertCounts()) + counts
            self.batches += 1
        self.records += outcome.records


def load_paths(
    store: IntelStore,
    paths: Iterable[Path],
    *,
    clock: Clock,
    on_progress: Callable[[LoadProgress], None] | None = None,
    workers: int | None = None,
    audit: AuditLog | None = None,
    actor: str | None = None,
) -> LoadReport:
    """Load every record found under ``paths`` into ``store``; return counts per source.

    ``workers`` is the number of parser processes (0: parse in this process); by
    default it is chosen from the input size (:func:`default_workers`).  With
    ``audit``, one ``intel.load`` event by ``actor`` records the load (also a load
    stopped by bad input: what was written before the error stays written).
    """
    require_actor(audit, actor)
    started = clock.now()
    roots = list(paths)
    inputs: dict[str, object] = {"paths": [str(path.resolve()) for path in roots]}
    totals = _Totals()
    try:
        planned = [(path, unit) for path in roots for unit in plan_units(path)]
        if workers is None:
            workers = default_workers(sum(unit.size for _path, unit in planned))
        jobs = [_Job(unit, started) for _path, unit in planned]
        for (path, _unit), outcome in zip(planned, _outcomes(store, jobs, workers), strict=True):
            totals.add(outcome)
            if on_progress is not None:
                on_progress(LoadProgress(path, totals.records))
    except InputError as exc:
        _audit(audit, "intel.load", actor, clock, totals.counts, totals.records, inputs, exc)
        raise
    _record_load_time(store, totals.counts, clock)
    _audit(audit, "intel.load", actor, clock, totals.counts, totals.records, inputs)
    seconds = (clock.now() - started).total_seconds()
    return LoadReport(
        counts=dict(sorted(totals.counts.items())),
        records=totals.records,
        paths=tuple(roots),
        seconds=seconds,
        batches=totals.batches,
    )


def _audit(
    audit: AuditLog | None,
    action: str,
    actor: str | None,
    clock: Clock,
    counts: dict[str, UpsertCounts],
    records: int,
    inputs: dict[str, object],
    error: InputError | None = None,
) -> None:
    """Append the load's event to ``audit`` (when one was given)."""
    if audit is None or actor is None:
        return
    audit.append(
        intel_event(
            action,
            actor=actor,
            at=clock.now(),
            counts=counts,
            records=records,
            inputs=inputs,
            error=error,
        )
    )


class SyncBatchLike(Protocol):
    """What :func:`store_batches` needs of a fetched batch (``medwarden.intel.fetch.SyncBatch``)."""

    @property
    def source(self) -> Source:
        """The feed the records came from."""
        ...

    @property
    def records(self) -> tuple[IntelRecord, ...]:
        """The records of this batch."""
        ...

    @property
    def cursor(self) -> str | None:
        """The position to remember once the batch is stored, or ``None``."""
        ...


def store_batches(
    store: IntelStore,
    batches: Iterable[SyncBatchLike],
    *,
    clock: Clock,
    cursor_key: str | None = None,
    audit: AuditLog | None = None,
    actor: str | None = None,
) -> LoadReport:
    """Write fetched batches to ``store``, moving the sync cursor after each stored batch.

    With ``audit``, one ``intel.sync`` event by ``actor`` records the sync (feed,
    counts per source, last cursor), also when a fetch failed part way."""
    require_actor(audit, actor)
    started = clock.now()
    batcher = _Batcher(store)
    inputs: dict[str, object] = {"feed": cursor_key, "cursor": None}
    try:
        for batch in batches:
            for record in batch.records:
                batcher.add(record)
            batcher.flush_all()
            if batch.cursor is not None:
                store.set_cursor(cursor_key or batch.source.value, batch.cursor, clock.now())
                inputs["cursor"] = batch.cursor
    except InputError as exc:
        _audit(audit, "intel.sync", actor, clock, batcher.counts, batcher.written, inputs, exc)
        raise
    _audit(audit, "intel.sync", actor, clock, batcher.counts, batcher.written, inputs)
    seconds = (clock.now() - started).total_seconds()
    return LoadReport(
        counts=dict(sorted(batcher.counts.items())),
        records=batcher.written,
        paths=(),
        seconds=seconds,
        batches=batcher.batches,
    )
