"""Index lookups issue a number of statements that does not grow with the number of keys."""

from __future__ import annotations

import math

from medwarden.store import SqlStore
from tests.store.builders import osv
from tests.store.conftest import count_statements


def test_by_package_statements_depend_on_chunks_only(store: SqlStore) -> None:
    """10 keys take one statement, 2,000 keys take ceil(2000/500) statements."""
    store.upsert_advisories([osv(f"GHSA-{i}", package=("npm", f"p{i}")) for i in range(50)])
    for n in (10, 2000):
        keys = [("npm", f"p{i}") for i in range(n)]
        with count_statements(store) as seen:
            found = store.advisories_by_package(keys)
        assert len(found) == min(n, 50)
        assert len(seen) <= math.ceil(n / 500) + 1


def test_other_lookups_are_chunked(store: SqlStore) -> None:
    """CPE, alias, KEV, EPSS and id lookups of 1,200 keys take three statements each."""
    ids = [f"CVE-{i}" for i in range(1200)]
    pairs = [("v", f"p{i}") for i in range(1200)]
    for lookup, keys in (
        (store.advisories_by_cpe, pairs),
        (store.alias_groups, ids),
        (store.kev_entries, ids),
        (store.epss_scores, ids),
        (store.summaries, ids),
    ):
        with count_statements(store) as seen:
            lookup(keys)  # type: ignore[operator]
        assert len(seen) == 3, lookup


def test_upsert_statements_do_not_grow_per_record(store: SqlStore) -> None:
    """Loading 1,000 records takes a handful of statements, not one per record."""
    batch = [osv(f"GHSA-{i}", aliases=(f"CVE-{i}",)) for i in range(1000)]
    with count_statements(store) as seen:
        store.upsert_advisories(batch)
    assert len(seen) <= 8
    newer = [osv(f"GHSA-{i}", minutes=1) for i in range(1000)]
    with count_statements(store) as seen:
        store.upsert_advisories(newer)
    assert len(seen) <= 2 + 1 + 3 * 2 + 3
