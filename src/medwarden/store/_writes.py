"""Set-based bulk writes: advisories with their index rows, KEV entries, EPSS scores.

Each function runs inside the caller's transaction and issues a number of
statements proportional to ``len(batch) / CHUNK``, never one per record: one
``SELECT`` per chunk to find existing copies, ``executemany`` inserts (of Core
statements, see :mod:`medwarden.store._bulk`) and updates, and chunked
``DELETE ... IN`` for index rows of replaced records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, text, update

from medwarden.core.clock import ensure_utc
from medwarden.intel.model import EpssScore, KevEntry, Provenance
from medwarden.services.ports import UpsertCounts
from medwarden.store._batching import chunked
from medwarden.store._bulk import bulk_insert
from medwarden.store._rows import (
    EncodedAdvisory,
    alias_rows,
    cpe_rows,
    package_rows,
)
from medwarden.store.schema import advisory, advisory_cpe, advisory_package, alias, epss, kev

__all__ = ["allocate_pks", "next_change_seq", "write_encoded", "write_epss", "write_kev"]

Row = dict[str, Any]
_INDEX_TABLES = (advisory_package, advisory_cpe, alias)
_ROW_BUILDERS: tuple[tuple[Table, Callable[[int, EncodedAdvisory], list[Row]]], ...] = (
    (advisory_package, package_rows),
    (advisory_cpe, cpe_rows),
    (alias, alias_rows),
)


def _newest_per_key(
    batch: Sequence[EncodedAdvisory],
) -> tuple[dict[tuple[str, str], EncodedAdvisory], int]:
    """Keep the newest copy of each (source, id) in ``batch``; count the others."""
    newest: dict[tuple[str, str], EncodedAdvisory] = {}
    for enc in batch:
        key = (enc.source, enc.record_id)
        kept = newest.get(key)
        if kept is None or enc.modified > kept.modified:
            newest[key] = enc
    return newest, len(batch) - len(newest)


def _existing(conn: Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Row]:
    """The stored (pk, modified) of each (source, id) in ``keys``, one SELECT per chunk."""
    wanted = set(keys)
    found: dict[tuple[str, str], Row] = {}
    cols = (advisory.c.pk, advisory.c.source, advisory.c.record_id, advisory.c.modified)
    for chunk in chunked({rid for _src, rid in wanted}):
        for pk, source, record_id, modified in conn.execute(
            select(*cols).where(advisory.c.record_id.in_(chunk))
        ):
            if (source, record_id) in wanted:
                found[(source, record_id)] = {"pk": pk, "modified": modified}
    return found


def allocate_pks(conn: Connection, table: Table, count: int) -> list[int]:
    """Reserve ``count`` keys of ``table`` (an auto-increment ``pk``) in one statement.

    PostgreSQL draws them from the column's sequence (safe with concurrent writers);
    SQLite holds the database write lock (``BEGIN IMMEDIATE``), so ``max(pk)`` is stable.
    """
    if conn.dialect.name == "postgresql":
        seq = func.nextval(func.pg_get_serial_sequence(table.name, "pk"))
        return list(conn.execute(select(seq).select_from(func.generate_series(1, count))).scalars())
    top = conn.execute(select(func.coalesce(func.max(table.c.pk), 0))).scalar_one()
    return list(range(top + 1, top + 1 + count))


def next_change_seq(conn: Connection, table: Table) -> int:
    """The ``change_seq`` of the batch being written: one more than the largest stored.

    Called under the write lock (SQLite's database lock, PostgreSQL's advisory lock), so
    batches get increasing numbers in commit order and a reader that processed every
    change up to N never misses a later commit with a smaller number."""
    top = conn.execute(select(func.max(table.c.change_seq))).scalar_one()
    return int(top or 0) + 1


def _insert_new(conn: Connection, new: list[EncodedAdvisory], seq: int) -> list[int]:
    if not new:
        return []
    pks = allocate_pks(conn, advisory, len(new))
    rows = [{"pk": pk, "change_seq": seq, **e.row} for pk, e in zip(pks, new, strict=True)]
    bulk_insert(conn, advisory, rows)
    return pks


def _replace(conn: Connection, replaced: list[tuple[int, EncodedAdvisory]], seq: int) -> None:
    if not replaced:
        return
    rows = [{"b_pk": pk, "change_seq": seq, **enc.row} for pk, enc in replaced]
    conn.execute(update(advisory).where(advisory.c.pk == bindparam("b_pk")), rows)
    for chunk in chunked(pk for pk, _adv in replaced):
        for table in _INDEX_TABLES:
            conn.execute(delete(table).where(table.c.advisory_pk.in_(chunk)))


def _insert_index_rows(conn: Connection, records: Iterable[tuple[int, EncodedAdvisory]]) -> None:
    live = [(pk, enc) for pk, enc in records if not enc.withdrawn]
    for table, build in _ROW_BUILDERS:
        bulk_insert(conn, table, [row for pk, enc in live for row in build(pk, enc)])


_PG_WRITE_LOCK = 0x6D656478  # one transaction-scoped lock for every advisory write
_PG_KEV_LOCK = 0x6D65646B  # and one for KEV writes (their change_seq must be ordered too)


def write_encoded(conn: Connection, batch: Sequence[EncodedAdvisory]) -> UpsertCounts:
    """Insert new advisories, replace older stored copies, ignore same-or-older ones.

    The advisories come encoded (:func:`~medwarden.store._rows.encode_advisories`).

    Writers are serialised (SQLite by its write lock, PostgreSQL by a transaction-level
    advisory lock), so two parallel loaders holding the same record never both insert
    it: the second sees the first's row and compares ``modified``."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_WRITE_LOCK})
    newest, duplicates = _newest_per_key(batch)
    existing = _existing(conn, newest)
    new: list[EncodedAdvisory] = []
    replaced: list[tuple[int, EncodedAdvisory]] = []
    for key, enc in newest.items():
        stored = existing.get(key)
        if stored is None:
            new.append(enc)
        elif enc.modified > stored["modified"]:
            replaced.append((stored["pk"], enc))
    seq = next_change_seq(conn, advisory) if new or replaced else 0
    pks = _insert_new(conn, new, seq)
    _replace(conn, replaced, seq)
    _insert_index_rows(conn, [*zip(pks, new, strict=True), *replaced])
    unchanged = duplicates + len(newest) - len(new) - len(replaced)
    return UpsertCounts(len(new), len(replaced), unchanged)


def _kev_row(entry: KevEntry) -> Row:
    return {
        "cve_id": entry.cve_id,
        "vendor": entry.vendor,
        "product": entry.product,
        "name": entry.name,
        "date_added": entry.date_added,
        "due_date": entry.due_date,
        "known_ransomware": entry.known_ransomware,
        "required_action": entry.required_action,
        **_provenance_columns(entry.provenance),
    }


def _epss_row(score: EpssScore) -> Row:
    return {
        "cve_id": score.cve_id,
        "score": score.score,
        "percentile": score.percentile,
        "score_date": score.score_date,
        "model_version": score.model_version,
        **_provenance_columns(score.provenance),
    }


_PROVENANCE_COLUMNS = ("fetched_at", "digest", "origin")


def _provenance_columns(provenance: Provenance | None) -> Row:
    if provenance is None:
        return dict.fromkeys(_PROVENANCE_COLUMNS)
    return {
        "fetched_at": provenance.fetched_at,
        "digest": provenance.digest,
        "origin": provenance.origin,
    }


def _stored_rows(conn: Connection, table: Table, ids: Iterable[str]) -> dict[str, Row]:
    found: dict[str, Row] = {}
    for chunk in chunked(ids):
        for row in conn.execute(select(table).where(table.c.cve_id.in_(chunk))).mappings():
            found[row["cve_id"]] = dict(row)
    return found


def _is_older(new: Row, old: Row, date_column: str | None) -> bool:
    if date_column is None:
        return False
    new_date: datetime | None = new[date_column]
    old_date: datetime | None = old[date_column]
    return new_date is not None and old_date is not None and ensure_utc(new_date) < old_date


def _write_keyed(
    conn: Connection, table: Table, rows: list[Row], date_column: str | None
) -> UpsertCounts:
    """Upsert rows keyed by ``cve_id``: insert new, update changed, skip same or older.

    Tables with a ``change_seq`` column get the batch's number on every inserted or
    changed row, so re-evaluation finds what changed."""
    latest = {row["cve_id"]: row for row in rows}
    stored = _stored_rows(conn, table, latest)
    new = [row for key, row in latest.items() if key not in stored]
    changed = [
        {"b_cve_id": key, **row}
        for key, row in latest.items()
        if key in stored
        and _normalised(row) != _normalised(stored[key])
        and not _is_older(row, stored[key], date_column)
    ]
    if "change_seq" in table.c and (new or changed):
        seq = next_change_seq(conn, table)
        for row in (*new, *changed):
            row["change_seq"] = seq
    if new:
        conn.execute(insert(table), new)
    if changed:
        conn.execute(update(table).where(table.c.cve_id == bindparam("b_cve_id")), changed)
    return UpsertCounts(len(new), len(changed), len(rows) - len(new) - len(changed))


def _normalised(row: Row) -> tuple[Any, ...]:
    """Row values in key order, datetimes in UTC, for change detection.

    Provenance columns do not count: the same entry fetched again is unchanged (and
    keeps the provenance of the copy first stored)."""
    return tuple(
        ensure_utc(v) if isinstance(v, datetime) else v
        for k, v in sorted(row.items())
        if k not in _PROVENANCE_COLUMNS and k != "change_seq"
    )


def write_kev(conn: Connection, entries: Sequence[KevEntry]) -> UpsertCounts:
    """Insert or replace KEV catalog entries."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_KEV_LOCK})
    return _write_keyed(conn, kev, [_kev_row(e) for e in entries], None)


def write_epss(conn: Connection, scores: Sequence[EpssScore]) -> UpsertCounts:
    """Insert or replace EPSS scores; a score older than the stored one is ignored."""
    return _write_keyed(conn, epss, [_epss_row(s) for s in scores], "score_date")
