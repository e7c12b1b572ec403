"""Subtree hashes of a device shard from stored nodes: what proofs and roots are built from.

A perfect subtree of ``2**l`` leaves starting at ``i * 2**l`` is ``ledger_node (level=l,
idx=i)`` (or the record's ``leaf_hash`` for ``l = 0``); any other range is folded from the
perfect subtrees it splits into, so an inclusion or consistency proof costs O(log n) point
reads, fetched in two queries (:meth:`StoredRanges.prefetch`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, or_, select

from medwarden.store.schema_telemetry import (
    ledger_node,
    telemetry_record,
)
from medwarden.telemetry.ledger.merkle import (
    node_hash,
)

__all__ = ["StoredRanges"]


class StoredRanges:
    """``range_hash(start, end)`` over stored nodes (see the module docstring).

    A proof's shape depends only on the sizes, never on hash values, so the proof is first
    built against placeholder hashes to learn which perfect subtrees it needs
    (:meth:`prefetch`); those are then read in two queries (leaves, interior nodes) instead
    of one round trip per subtree, and the real proof is built from them."""

    def __init__(self, conn: Connection, device_pk: int) -> None:
        self._conn = conn
        self._pk = device_pk
        self._known: dict[tuple[int, int], bytes] = {}
        self._wanted: set[tuple[int, int]] | None = None

    def prefetch(self, build: Any) -> None:
        """Run ``build(self)`` once with placeholders, then read every subtree it used."""
        self._wanted = set()
        try:
            build(self)
        finally:
            wanted, self._wanted = self._wanted, None
        leaves = sorted(start for level, start in wanted if level == 0)
        nodes = sorted((level, start >> level) for level, start in wanted if level > 0)
        if leaves:
            rows = self._conn.execute(
                select(telemetry_record.c.ledger_index, telemetry_record.c.leaf_hash).where(
                    telemetry_record.c.device_pk == self._pk,
                    telemetry_record.c.ledger_index.in_(leaves),
                )
            )
            for index, digest in rows:
                self._known[(0, int(index))] = bytes(digest)
        if nodes:
            by_level: dict[int, list[int]] = {}
            for level, idx in nodes:
                by_level.setdefault(level, []).append(idx)
            node_rows = self._conn.execute(
                select(ledger_node.c.level, ledger_node.c.idx, ledger_node.c.hash).where(
                    ledger_node.c.device_pk == self._pk,
                    or_(
                        *(
                            and_(ledger_node.c.level == level, ledger_node.c.idx.in_(idxs))
                            for level, idxs in sorted(by_level.items())
                        )
                    ),
                )
            )
            for level, idx, digest in node_rows:
                self._known[(int(level), int(idx) << int(level))] = bytes(digest)

    def perfect(self, start: int, width: int) -> bytes:
        level = width.bit_length() - 1
        if self._wanted is not None:
            self._wanted.add((level, start))
            return _PLACEHOLDER
        known = self._known.get((level, start))
        if known is not None:
            return known
        if level == 0:
            value = self._conn.execute(
                select(telemetry_record.c.leaf_hash).where(
                    telemetry_record.c.device_pk == self._pk,
                    telemetry_record.c.ledger_index == start,
                )
            ).scalar_one()
        else:
            value = self._conn.execute(
                select(ledger_node.c.hash).where(
                    ledger_node.c.device_pk == self._pk,
                    ledger_node.c.level == level,
                    ledger_node.c.idx == start >> level,
                )
            ).scalar_one()
        return bytes(value)

    def __call__(self, start: int, end: int) -> bytes:
        # Split [start, end) into perfect subtrees, largest first, and fold right to left.
        parts: list[bytes] = []
        lo = start
        while lo < end:
            width = 1 << ((end - lo).bit_length() - 1)
            parts.append(self.perfect(lo, width))
            lo += width
        result = parts[-1]
        for left in reversed(parts[:-1]):
            result = node_hash(left, result)
        return result


_PLACEHOLDER = bytes(32)
