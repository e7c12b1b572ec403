"""The SQL implementation of :class:`~medwarden.services.ports.IntelStore`.

:class:`SqlStore` is what :func:`medwarden.store.db.open_store` returns.  Writes are
one transaction per call and set-based (see :mod:`medwarden.store._writes`); reads
implement :class:`~medwarden.matching.base.AdvisoryIndex` with a number of
statements that depends on the number of 500-key chunks, never on the number of
records (see :mod:`medwarden.store._reads`).  Only domain values cross this API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite

from medwarden.core.clock import ensure_utc
from medwarden.intel.model import Advisory, EpssScore, KevEntry, Source
from medwarden.services.ports import SourceStatus, UpsertCounts
from medwarden.store._gc import paused_gc
from medwarden.store._reads import (
    AdvisoryCache,
    read_alias_groups,
    read_by_cpe,
    read_by_package,
    read_covered_families,
    read_epss,
    read_kev,
    read_summaries,
)
from medwarden.store._rows import encode_advisories
from medwarden.store._writes import write_encoded, write_epss, write_kev
from medwarden.store.audit_repository import SqlAuditLog
from medwarden.store.auth_repository import SqlAuth
from medwarden.store.device_repository import SqlDevices
from medwarden.store.evidence_repository import SqlEvidence
from medwarden.store.job_repository import SqlJobs
from medwarden.store.ledger_repository import SqlLedger
from medwarden.store.monitoring_repository import SqlMonitoring
from medwarden.store.notification_repository import SqlNotifications
from medwarden.store.portfolio_repository import SqlPortfolio
from medwarden.store.schema import advisory, epss, kev, source_state
from medwarden.store.support_repository import SqlSupport
from medwarden.store.timeline_repository import SqlTimeline
from medwarden.store.triage_repository import SqlTriage
from medwarden.store.warning_repository import SqlWarnings

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["SqlStore"]

Key = tuple[str, str]


class SqlStore:
    """The intelligence mirror on SQLite or PostgreSQL; close it (or use ``with``) when done.

    ``audit`` is the store's audit trail (:class:`~medwarden.services.ports.AuditLog`);
    ``support`` the component support records, ``evidence`` the evidence-pack reads."""

    def __init__(self, database: Database, *, cache_size: int = 50_000) -> None:
        self.database = database
        self.audit = SqlAuditLog(database)
        self.triage = SqlTriage(database)
        self.notifications, self.jobs = SqlNotifications(database), SqlJobs(database)
        self.monitoring = SqlMonitoring(database)
        self.auth = SqlAuth(database)
        self.portfolio = SqlPortfolio(database)
        self.support = SqlSupport(database)
        self.evidence = SqlEvidence(database)
        self.devices = SqlDevices(database)
        self.ledger = SqlLedger(database)
        self.warnings = SqlWarnings(database)
        self.timeline = SqlTimeline(database)
        self._cache = AdvisoryCache(cache_size)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self.database.url

    def close(self) -> None:
        """Stop background work and release every database connection."""
        self.ledger.close()
        self._cache.clear()
        self.database.dispose()

    def __enter__(self) -> SqlStore:
        """Use the store as a context manager that closes it on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        self.close()

    # -- IntelStore: writes -------------------------------------------------------------

    def upsert_advisories(self, advisories: Sequence[Advisory]) -> UpsertCounts:
        """Insert new records, replace older copies, ignore same-or-older ones; one transaction.

        Records are encoded before the write transaction begins, so the database's write
        lock is held only for the statements (parallel loaders encode concurrently)."""
        if not advisories:
            return UpsertCounts()
        with paused_gc():
            encoded = encode_advisories(advisories)
            with self.database.write("storing advisories") as conn:
                return write_encoded(conn, encoded)

    def opener(self) -> Callable[[], SqlStore]:
        """A picklable callable opening this store again (in a worker process)."""
        return partial(_reopen, self.database.engine.url.render_as_string(hide_password=False))

    def upsert_kev(self, entries: Sequence[KevEntry]) -> UpsertCounts:
        """Insert or replace KEV catalog entries; one transaction."""
        if not entries:
            return UpsertCounts()
        with self.database.write("storing KEV entries") as conn:
            return write_kev(conn, entries)

    def upsert_epss(self, scores: Sequence[EpssScore]) -> UpsertCounts:
        """Insert or replace EPSS scores (a later score date replaces an earlier one)."""
        if not scores:
            return UpsertCounts()
        with self.database.write("storing EPSS scores") as conn:
            return write_epss(conn, scores)

    def set_cursor(self, source: str, cursor: str, at: datetime) -> None:
        """Remember how far an incremental sync of ``source`` got and when it loaded."""
        values = {"source": source, "cursor": cursor, "last_loaded_at": ensure_utc(at)}
        dialect = postgresql if self.database.dialect == "postgresql" else sqlite
        stmt = dialect.insert(source_state).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[source_state.c.source],
            set_={"cursor": stmt.excluded.cursor, "last_loaded_at": stmt.excluded.last_loaded_at},
        )
        with self.database.write("saving the sync cursor") as conn:
            conn.execute(stmt)

    def status(self) -> list[SourceStatus]:
        """Per source: records, withdrawn records, last load, newest ``modified``, cursor."""
        with self.database.read("reading the store status") as conn:
            return _status(conn)

    # -- AdvisoryIndex: reads ------------------------------------------------------------

    def advisories_by_package(self, keys: Iterable[Key]) -> Mapping[Key, list[Advisory]]:
        """Return non-withdrawn advisories per (ecosystem family, canonical name) key."""
        with paused_gc(), self.database.read("looking up advisories by package") as conn:
            return read_by_package(conn, self._cache, keys)

    def advisories_by_cpe(self, keys: Iterable[Key]) -> Mapping[Key, list[Advisory]]:
        """Return non-withdrawn advisories whose configurations name (vendor, product)."""
        with paused_gc(), self.database.read("looking up advisories by CPE") as conn:
            return read_by_cpe(conn, self._cache, keys)

    def covered_ecosystems(self, families: Iterable[str]) -> frozenset[str]:
        """Return those ecosystem families the mirror holds at least one advisory for."""
        with self.database.read("checking ecosystem coverage") as conn:
            return read_covered_families(conn, families)

    def alias_groups(self, ids: Iterable[str]) -> Mapping[str, frozenset[str]]:
        """Return, for each id, every id linked to it through aliases (itself included)."""
        with self.database.read("resolving aliases") as conn:
            return read_alias_groups(conn, ids)

    def kev_entries(self, cve_ids: Iterable[str]) -> Mapping[str, KevEntry]:
        """Return the KEV entries of those CVE ids that are in the catalog."""
        with self.database.read("looking up KEV entries") as conn:
            return read_kev(conn, cve_ids)

    def epss_scores(self, cve_ids: Iterable[str]) -> Mapping[str, EpssScore]:
        """Return the latest EPSS score of each CVE id that has one."""
        with self.database.read("looking up EPSS scores") as conn:
            return read_epss(conn, cve_ids)

    def summaries(self, ids: Iterable[str]) -> Mapping[str, Advisory]:
        """Return the stored (non-withdrawn) advisory of each id."""
        with paused_gc(), self.database.read("looking up advisories by id") as conn:
            return read_summaries(conn, self._cache, ids)


def _status(conn: Connection) -> list[SourceStatus]:
    a = advisory.c
    counts: dict[str, dict[str, Any]] = {}
    rows = conn.execute(
        select(a.source, func.count(), func.count(a.withdrawn), func.max(a.modified)).group_by(
            a.source
        )
    )
    for source, records, withdrawn, newest in rows:
        counts[source] = {"records": records, "withdrawn": withdrawn, "newest": newest}
    for source, table, column in (
        (Source.KEV.value, kev, kev.c.date_added),
        (Source.EPSS.value, epss, epss.c.score_date),
    ):
        records, newest = conn.execute(
            select(func.count(), func.max(column)).select_from(table)
        ).one()
        if records:
            counts[source] = {"records": records, "withdrawn": 0, "newest": newest}
    states = {r.source: r for r in conn.execute(select(source_state))}
    return [
        SourceStatus(
            source=source,
            records=counts.get(source, {}).get("records", 0),
            withdrawn=counts.get(source, {}).get("withdrawn", 0),
            last_loaded_at=_utc(states[source].last_loaded_at) if source in states else None,
            newest_modified=_utc(counts.get(source, {}).get("newest")),
            cursor=states[source].cursor if source in states else None,
        )
        for source in sorted(counts.keys() | states.keys())
    ]


def _utc(value: datetime | None) -> datetime | None:
    """``max()`` over a datetime column comes back untyped (a string on SQLite)."""
    if value is None or isinstance(value, datetime):
        return None if value is None else ensure_utc(value)
    return ensure_utc(datetime.fromisoformat(str(value)))


def _reopen(url: str) -> SqlStore:
    """Open the store at ``url`` (already created); used by :meth:`SqlStore.opener`."""
    from medwarden.store.db import open_store

    return open_store(url, create=False)
