"""The intel-load use case: files, directories and OSV zips into the intelligence store.

Records stream from :func:`medwarden.intel.files.iter_intel` and are written in
batches of :data:`BATCH_SIZE` per kind (advisories per source, KEV entries, EPSS
scores), so memory stays flat however large the input.  Each batch is one store
transaction; a malformed file stops the load with its error, and batches already
written stay written (a re-run is idempotent: unchanged records count as unchanged).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from medwarden.core.clock import Clock
from medwarden.intel.files import iter_intel
from medwarden.intel.model import Advisory, EpssScore, IntelRecord, KevEntry, Source
from medwarden.services.ports import IntelStore, UpsertCounts

__all__ = [
    "BATCH_SIZE",
    "LoadProgress",
    "LoadReport",
    "SyncBatchLike",
    "load_paths",
    "store_batches",
]

BATCH_SIZE = 5_000


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


def load_paths(
    store: IntelStore,
    paths: Iterable[Path],
    *,
    clock: Clock,
    on_progress: Callable[[LoadProgress], None] | None = None,
) -> LoadReport:
    """Load every record found under ``paths`` into ``store``; return counts per source."""
    started = clock.now()
    batcher = _Batcher(store)
    done: list[Path] = []
    for path in paths:
        for record in iter_intel(path, fetched_at=started):
            if batcher.add(record) and on_progress is not None:
                on_progress(LoadProgress(path, batcher.written))
        batcher.flush_all()
        done.append(path)
        if on_progress is not None:
            on_progress(LoadProgress(path, batcher.written))
    _record_load_time(store, batcher.counts, clock)
    seconds = (clock.now() - started).total_seconds()
    return LoadReport(
        counts=dict(sorted(batcher.counts.items())),
        records=batcher.written,
        paths=tuple(done),
        seconds=seconds,
        batches=batcher.batches,
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
) -> LoadReport:
    """Write fetched batches to ``store``, moving the sync cursor after each stored batch."""
    started = clock.now()
    batcher = _Batcher(store)
    for batch in batches:
        for record in batch.records:
            batcher.add(record)
        batcher.flush_all()
        if batch.cursor is not None:
            store.set_cursor(cursor_key or batch.source.value, batch.cursor, clock.now())
    seconds = (clock.now() - started).total_seconds()
    return LoadReport(
        counts=dict(sorted(batcher.counts.items())),
        records=batcher.written,
        paths=(),
        seconds=seconds,
        batches=batcher.batches,
    )
