"""AdvisoryIndex lookups: by package, by CPE, alias groups, summaries."""

from __future__ import annotations

from medwarden.store import SqlStore
from tests.store.builders import nvd, osv


def test_by_package_groups_per_key(store: SqlStore) -> None:
    """Each (family, name) key maps to its advisories; unknown keys are absent."""
    a = osv("GHSA-a", package=("Debian:12", "openssl"))
    b = osv("GHSA-b", package=("Debian:11", "openssl"))
    c = osv("GHSA-c", package=("PyPI", "Django"))
    store.upsert_advisories([a, b, c])
    found = store.advisories_by_package([("Debian", "openssl"), ("PyPI", "django"), ("npm", "x")])
    assert sorted(x.id for x in found[("Debian", "openssl")]) == ["GHSA-a", "GHSA-b"]
    assert found[("PyPI", "django")] == [c]
    assert ("npm", "x") not in found


def test_by_cpe_returns_vulnerable_keys_only(store: SqlStore) -> None:
    """A CVE is found by its vulnerable CPE, not by the platform of an AND configuration."""
    cve = nvd("CVE-2024-7", vendor="acme", product="pump", platform=("microsoft", "windows"))
    store.upsert_advisories([cve])
    found = store.advisories_by_cpe([("acme", "pump"), ("microsoft", "windows"), ("x", "y")])
    assert found == {("acme", "pump"): [cve]}


def test_covered_ecosystems_names_families_with_advisories(store: SqlStore) -> None:
    """Only families some live advisory names a package of count as covered."""
    store.upsert_advisories([osv("GHSA-a", package=("Debian:12", "openssl"))])
    assert store.covered_ecosystems(["Debian", "Alpine", "PyPI"]) == frozenset({"Debian"})
    assert store.covered_ecosystems([]) == frozenset()


def test_alias_groups_are_transitive(store: SqlStore) -> None:
    """GHSA -> CVE <- GO links all three ids, from whichever id is asked."""
    store.upsert_advisories(
        [
            osv("GHSA-xxxx", aliases=("CVE-2024-1",)),
            osv("GO-2024-0001", aliases=("CVE-2024-1",)),
            osv("GHSA-lone"),
        ]
    )
    groups = store.alias_groups(["GO-2024-0001", "CVE-2024-1", "GHSA-lone", "CVE-unknown"])
    group = frozenset({"GHSA-xxxx", "CVE-2024-1", "GO-2024-0001"})
    assert groups["GO-2024-0001"] == group
    assert groups["CVE-2024-1"] == group
    assert groups["GHSA-lone"] == {"GHSA-lone"}
    assert groups["CVE-unknown"] == {"CVE-unknown"}


def test_summaries_prefer_nvd_for_shared_ids(store: SqlStore) -> None:
    """An id held by NVD and OSV is answered with the NVD record."""
    from_nvd = nvd("CVE-2024-9")
    store.upsert_advisories([osv("CVE-2024-9"), from_nvd])
    assert store.summaries(["CVE-2024-9", "CVE-none"]) == {"CVE-2024-9": from_nvd}
