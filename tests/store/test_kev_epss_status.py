"""KEV and EPSS upserts and lookups, sync cursors and the status report."""

from __future__ import annotations

from datetime import UTC, datetime

from medwarden.intel.model import EpssScore, KevEntry
from medwarden.services.ports import UpsertCounts
from medwarden.store import SqlStore
from tests.store.builders import T0, nvd, osv

DAY1 = datetime(2024, 6, 1, tzinfo=UTC)
DAY2 = datetime(2024, 6, 2, tzinfo=UTC)


def kev_entry(cve: str, action: str = "patch") -> KevEntry:
    """A KEV entry for ``cve``."""
    return KevEntry(cve, "acme", "pump", "Acme pump RCE", DAY1, DAY2, "Unknown", action)


def test_kev_upsert_and_lookup(store: SqlStore) -> None:
    """KEV entries are inserted, changed ones updated, identical ones left alone."""
    assert store.upsert_kev([kev_entry("CVE-1"), kev_entry("CVE-2")]) == UpsertCounts(2)
    counts = store.upsert_kev([kev_entry("CVE-1"), kev_entry("CVE-2", "isolate")])
    assert counts == UpsertCounts(updated=1, unchanged=1)
    assert store.kev_entries(["CVE-2", "CVE-3"]) == {"CVE-2": kev_entry("CVE-2", "isolate")}


def test_epss_keeps_the_latest_score(store: SqlStore) -> None:
    """A later EPSS score replaces an earlier one; an earlier one is ignored."""
    store.upsert_epss([EpssScore("CVE-1", 0.1, 0.5, DAY1, "v2023")])
    assert store.upsert_epss([EpssScore("CVE-1", 0.2, 0.6, DAY2)]) == UpsertCounts(updated=1)
    assert store.upsert_epss([EpssScore("CVE-1", 0.9, 0.9, DAY1)]) == UpsertCounts(unchanged=1)
    assert store.epss_scores(["CVE-1", "CVE-2"]) == {"CVE-1": EpssScore("CVE-1", 0.2, 0.6, DAY2)}


def test_status_counts_per_source(store: SqlStore) -> None:
    """Status reports records, withdrawn records, newest modified and cursor per source."""
    store.upsert_advisories([osv("GHSA-1", minutes=5), osv("GHSA-2", withdrawn=True), nvd("CVE-1")])
    store.upsert_kev([kev_entry("CVE-1")])
    store.upsert_epss([EpssScore("CVE-1", 0.1, 0.5, DAY2)])
    store.set_cursor("osv", "cursor-1", DAY1)
    store.set_cursor("osv", "cursor-2", DAY2)
    by_source = {s.source: s for s in store.status()}
    assert sorted(by_source) == ["epss", "kev", "nvd", "osv"]
    osv_status = by_source["osv"]
    assert (osv_status.records, osv_status.withdrawn) == (2, 1)
    assert osv_status.newest_modified == T0.replace(minute=5)
    assert (osv_status.cursor, osv_status.last_loaded_at) == ("cursor-2", DAY2)
    assert by_source["nvd"].last_loaded_at is None
    assert by_source["kev"].records == 1
    assert by_source["epss"].newest_modified == DAY2


def test_kev_and_epss_keep_their_provenance(store: SqlStore) -> None:
    """KEV entries and EPSS scores keep source, fetch time, digest and origin; a re-fetch of
    the same data is unchanged and keeps the provenance of the first copy."""
    from dataclasses import replace

    from medwarden.intel.model import Provenance, Source

    first = Provenance(Source.KEV, DAY1, "a" * 64, "https://example.test/kev.json")
    later = replace(first, fetched_at=DAY2, digest="b" * 64)
    entry = replace(kev_entry("CVE-1"), provenance=first)
    store.upsert_kev([entry])
    assert store.upsert_kev([replace(entry, provenance=later)]) == UpsertCounts(unchanged=1)
    assert store.kev_entries(["CVE-1"])["CVE-1"].provenance == first
    scored = Provenance(Source.EPSS, DAY2, "c" * 64, "epss.csv.gz")
    store.upsert_epss([EpssScore("CVE-1", 0.1, 0.5, DAY1, "v2023", scored)])
    assert store.epss_scores(["CVE-1"])["CVE-1"].provenance == scored
