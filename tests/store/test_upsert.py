"""Bulk upserts: idempotent reloads, newer copies replace older ones, withdrawn records."""

from __future__ import annotations

from sqlalchemy import func, select

from medwarden.services.ports import UpsertCounts
from medwarden.store import SqlStore
from medwarden.store.schema import METADATA
from tests.store.builders import nvd, osv
from tests.store.synthetic import synthetic_advisories


def row_counts(store: SqlStore) -> dict[str, int]:
    """Rows per table of the store."""
    with store.database.engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in METADATA.tables.items()
        }


def test_reload_is_idempotent(store: SqlStore) -> None:
    """Loading the same records twice counts them unchanged and writes nothing."""
    batch = list(synthetic_advisories(600))
    assert store.upsert_advisories(batch) == UpsertCounts(inserted=600)
    before = row_counts(store)
    assert store.upsert_advisories(batch) == UpsertCounts(unchanged=600)
    assert row_counts(store) == before


def test_duplicates_in_one_batch_keep_the_newest(store: SqlStore) -> None:
    """Two copies of one record in a batch store the newer and count the other unchanged."""
    counts = store.upsert_advisories([osv("GHSA-1", minutes=5), osv("GHSA-1", minutes=9)])
    assert counts == UpsertCounts(inserted=1, unchanged=1)
    assert store.summaries(["GHSA-1"])["GHSA-1"].modified.minute == 9


def test_newer_copy_replaces_payload_and_index_rows(store: SqlStore) -> None:
    """A newer copy replaces the payload, its package keys and its alias edges."""
    store.upsert_advisories([osv("GHSA-1", package=("npm", "left-pad"), aliases=("CVE-1",))])
    newer = osv("GHSA-1", package=("npm", "right-pad"), aliases=("CVE-2",), minutes=1)
    assert store.upsert_advisories([newer]) == UpsertCounts(updated=1)
    assert store.advisories_by_package([("npm", "left-pad")]) == {}
    assert store.advisories_by_package([("npm", "right-pad")]) == {("npm", "right-pad"): [newer]}
    assert store.alias_groups(["GHSA-1"])["GHSA-1"] == {"GHSA-1", "CVE-2"}


def test_older_or_equal_copy_is_ignored(store: SqlStore) -> None:
    """A copy that is not newer than the stored one changes nothing."""
    current = osv("GHSA-1", minutes=10, fixed="2.0")
    store.upsert_advisories([current])
    older = osv("GHSA-1", minutes=3, fixed="9.9")
    same = osv("GHSA-1", minutes=10, fixed="7.7")
    assert store.upsert_advisories([older]) == UpsertCounts(unchanged=1)
    assert store.upsert_advisories([same]) == UpsertCounts(unchanged=1)
    assert store.summaries(["GHSA-1"]) == {"GHSA-1": current}


def test_withdrawn_records_are_kept_but_never_returned(store: SqlStore) -> None:
    """A withdrawn record counts in status but no index lookup returns it."""
    store.upsert_advisories([osv("GHSA-1"), nvd("CVE-2024-1")])
    store.upsert_advisories(
        [osv("GHSA-1", minutes=1, withdrawn=True), nvd("CVE-2024-1", minutes=1, withdrawn=True)]
    )
    assert store.advisories_by_package([("PyPI", "requests")]) == {}
    assert store.advisories_by_cpe([("acme", "infusion_pump_fw")]) == {}
    assert store.summaries(["GHSA-1", "CVE-2024-1"]) == {}
    withdrawn = {s.source: s.withdrawn for s in store.status()}
    assert withdrawn == {"nvd": 1, "osv": 1}


def test_empty_batch_does_nothing(store: SqlStore) -> None:
    """An empty batch returns zero counts."""
    assert store.upsert_advisories([]) == UpsertCounts()
