"""Ports: what services need from storage, as Protocols the store implements."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from medwarden.audit.model import AuditEvent, EventDraft
from medwarden.intel.model import Advisory, EpssScore, KevEntry
from medwarden.matching.base import AdvisoryIndex

__all__ = ["AuditLog", "IntelStore", "SourceStatus", "UpsertCounts"]


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What a bulk upsert did: new rows, replaced (newer) rows, ignored (same or older)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """Per source: how many records, when last updated, and the sync cursor."""

    source: str
    records: int
    withdrawn: int
    last_loaded_at: datetime | None
    newest_modified: datetime | None
    cursor: str | None = None


class IntelStore(AdvisoryIndex, Protocol):
    """The mirror of vulnerability intelligence: bulk writes plus the matching index."""

    def upsert_advisories(self, advisories: Sequence[Advisory]) -> UpsertCounts:
        """Insert new records, replace older copies, ignore same-or-older ones; one transaction."""
        ...

    def opener(self) -> Callable[[], IntelStore]:
        """A picklable callable that opens this same store in another process.

        Parallel loads call it once in each worker process, which then parses and writes
        its own units (the store serialises concurrent writers)."""
        ...

    def upsert_kev(self, entries: Sequence[KevEntry]) -> UpsertCounts:
        """Insert or replace KEV catalog entries."""
        ...

    def upsert_epss(self, scores: Sequence[EpssScore]) -> UpsertCounts:
        """Insert or replace EPSS scores (a later score date replaces an earlier one)."""
        ...

    def set_cursor(self, source: str, cursor: str, at: datetime) -> None:
        """Remember how far an incremental sync of ``source`` got."""
        ...

    def status(self) -> list[SourceStatus]:
        """Counts and freshness per source."""
        ...


class AuditLog(Protocol):
    """The append-only audit trail: events can be appended and read, never changed.

    Implementations assign ``seq`` and ``prev_hash`` inside the write transaction, so
    concurrent writers (threads or processes) never fork the chain."""

    def append(self, draft: EventDraft) -> AuditEvent:
        """Seal ``draft`` as the next event of the chain, store it, and return it."""
        ...

    def events(self, after_seq: int = 0) -> Iterator[AuditEvent]:
        """Yield the stored events with ``seq > after_seq`` in ``seq`` order, streaming."""
        ...

    def head(self) -> tuple[int, str]:
        """The last event's ``(seq, hash)``; ``(0, GENESIS)`` when the trail is empty."""
        ...
