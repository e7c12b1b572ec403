"""Re-evaluation and list queries take the same number of statements at any portfolio size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from medwarden.portfolio.findings import FindingQuery
from medwarden.store import SqlStore, open_store
from tests.conftest import postgres_url
from tests.portfolio_helpers import (
    LODASH_23337,
    MOMENT_24785,
    cdx,
    clock_at,
    imported,
    load,
    make_product,
    npm,
    reevaluated,
)
from tests.store.conftest import count_statements, fresh_pg_schema


def _portfolio(store: SqlStore, releases: int, extra_components: int) -> None:
    clock = clock_at()
    load(store, LODASH_23337, clock=clock)
    versions = [f"{i}.0" for i in range(releases)]
    make_product(store, "pump", *versions, clock=clock)
    for version in versions:
        filler = [npm(f"filler-{j}", version) for j in range(extra_components)]
        imported(
            store,
            "pump",
            version,
            cdx(npm("lodash", "4.17.15"), npm("moment", "2.29.1"), *filler),
            clock,
        )
    reevaluated(store, clock)


def _reevaluation_statements(store: SqlStore) -> tuple[int, int]:
    clock = clock_at(day=20)
    load(store, MOMENT_24785, clock=clock)
    with count_statements(store) as seen:
        delta = reevaluated(store, clock)
    return len(seen), delta.new


@contextmanager
def _second_database(store_url: str) -> Iterator[str]:
    """Another empty database on the same backend as ``store_url``."""
    if "://" not in store_url:
        yield f"{store_url}.second"
        return
    base = postgres_url()
    assert base is not None
    with fresh_pg_schema(base) as url:
        yield url


def test_reevaluation_statements_do_not_grow_with_releases_or_components(
    store_url: str,
) -> None:
    counts = []
    with _second_database(store_url) as second:
        for url, (releases, extra) in ((store_url, (2, 1)), (second, (12, 40))):
            with open_store(url) as store:
                _portfolio(store, releases, extra)
                statements, new = _reevaluation_statements(store)
            assert new == releases  # moment@2.29.1 is in every release
            counts.append(statements)
    assert counts[0] == counts[1], counts


def test_findings_list_is_one_statement_at_any_size(store: SqlStore) -> None:
    _portfolio(store, 6, 5)
    for limit in (1, 50, 500):
        with count_statements(store) as seen:
            store.portfolio.findings(FindingQuery(limit=limit, state=None))
        assert len(seen) == 1
    with count_statements(store) as seen:
        releases = store.portfolio.releases("pump")
    assert len(releases) == 6
    assert len(seen) == 4
