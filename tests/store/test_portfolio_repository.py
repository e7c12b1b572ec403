"""The portfolio on SQLite and PostgreSQL: revisions, findings, delta re-evaluation."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from medwarden.errors import ConflictError, NotFoundError, SbomParseError, StoreError
from medwarden.intel.cvss import SeverityRating
from medwarden.portfolio.findings import FindingQuery
from medwarden.portfolio.model import LifecycleState, ProductSpec
from medwarden.store import SqlStore
from medwarden.store.schema_portfolio import component, finding, sbom_revision
from tests.portfolio_helpers import (
    LODASH_8203,
    LODASH_23337,
    MINIMIST_44906,
    MOMENT_24785,
    MOMENT_31129,
    cdx,
    clock_at,
    imported,
    load,
    make_product,
    npm,
    reevaluated,
    tick,
)


def _open(store: SqlStore, **filters: object) -> set[tuple[str, str, str]]:
    query = FindingQuery(limit=500, **filters)  # type: ignore[arg-type]
    return {
        (f.release, f"{f.component_name}@{f.component_version}", f.vulnerability_id)
        for f in store.portfolio.findings(query)
    }


def test_products_and_releases_are_created_once(store: SqlStore) -> None:
    clock = clock_at()
    make_product(store, "pump", "1.0", "2.0", clock=clock)
    with pytest.raises(ConflictError):
        store.portfolio.create_product(ProductSpec("pump", "Again"), actor="a", at=clock.now())
    with pytest.raises(NotFoundError):
        store.portfolio.release("pump", "3.0")
    assert [r.version for r in store.portfolio.releases("pump")] == ["1.0", "2.0"]
    assert store.portfolio.product("pump").release_count == 2
    moved = store.portfolio.set_release_state(
        "pump", "1.0", LifecycleState.FIELDED, actor="reg", at=clock.now(), reason="shipped"
    )
    assert moved.state is LifecycleState.FIELDED
    actions = [e.action for e in store.audit.events()]
    assert actions == [
        "portfolio.product_create",
        "portfolio.release_create",
        "portfolio.release_create",
        "portfolio.release_state",
    ]


def test_reimport_creates_a_revision_and_keeps_the_prior_one(store: SqlStore) -> None:
    """REQUIREMENTS 5: a released version's SBOM is never overwritten."""
    clock = clock_at()
    make_product(store, "pump", "1.0", clock=clock)
    first = cdx(npm("lodash", "4.17.15"), serial="urn:uuid:1")
    second = cdx(npm("lodash", "4.17.21"), serial="urn:uuid:2")
    imported(store, "pump", "1.0", first, clock)
    imported(store, "pump", "1.0", second, clock)
    revisions = store.portfolio.revisions("pump", "1.0")
    assert [r.number for r in revisions] == [1, 2]
    assert store.portfolio.revision_document("pump", "1.0", 1)[1] == first
    assert store.portfolio.revision_document("pump", "1.0")[1] == second
    assert store.portfolio.release("pump", "1.0").current_revision.number == 2  # type: ignore[union-attr]


def test_unreadable_sbom_stores_nothing(store: SqlStore) -> None:
    clock = clock_at()
    make_product(store, "pump", "1.0", clock=clock)
    imported(store, "pump", "1.0", cdx(npm("lodash", "4.17.15")), clock)
    with pytest.raises(SbomParseError):
        imported(store, "pump", "1.0", b'{"bomFormat": "CycloneDX", "specVersion": "1.6", ', clock)
    assert [r.number for r in store.portfolio.revisions("pump", "1.0")] == [1]


def test_import_matches_only_identities_never_seen(store: SqlStore) -> None:
    clock = clock_at()
    load(store, LODASH_23337, LODASH_8203, clock=clock)
    make_product(store, "pump", "1.0", "2.0", clock=clock)
    a = imported(
        store, "pump", "1.0", cdx(npm("lodash", "4.17.15"), npm("left-pad", "1.3.0")), clock
    )
    b = imported(store, "pump", "2.0", cdx(npm("lodash", "4.17.15"), npm("ms", "2.1.3")), clock)
    assert (a.result.identities_new, a.result.identities_matched) == (2, 2)
    assert (b.result.identities_new, b.result.identities_matched) == (1, 1)
    assert a.result.delta.new == b.result.delta.new == 2
    assert _open(store) == {
        ("1.0", "lodash@4.17.15", "CVE-2021-23337"),
        ("1.0", "lodash@4.17.15", "CVE-2020-8203"),
        ("2.0", "lodash@4.17.15", "CVE-2021-23337"),
        ("2.0", "lodash@4.17.15", "CVE-2020-8203"),
    }


def test_reevaluation_produces_exactly_the_delta(store: SqlStore) -> None:
    clock = clock_at()
    load(store, LODASH_23337, clock=clock)
    make_product(store, "pump", "1.0", "2.0", clock=clock)
    imported(store, "pump", "1.0", cdx(npm("lodash", "4.17.15"), npm("moment", "2.29.1")), clock)
    imported(store, "pump", "2.0", cdx(npm("lodash", "4.17.21"), npm("moment", "2.29.1")), clock)
    reevaluated(store, clock)  # catches up with the load before the imports
    assert _open(store) == {("1.0", "lodash@4.17.15", "CVE-2021-23337")}

    load(store, MOMENT_24785, MOMENT_31129, MINIMIST_44906, clock=clock)
    delta = reevaluated(store, clock)
    assert (delta.new, delta.resolved, delta.components) == (4, 0, 1)  # only moment re-matched
    assert _open(store, vulnerability="CVE-2022-24785") == {
        ("1.0", "moment@2.29.1", "CVE-2022-24785"),
        ("2.0", "moment@2.29.1", "CVE-2022-24785"),
    }
    assert reevaluated(store, clock).skipped  # nothing changed since


def test_a_new_revision_resolves_removed_components_and_keeps_the_rest(store: SqlStore) -> None:
    clock = clock_at()
    load(store, LODASH_23337, MOMENT_24785, clock=clock)
    make_product(store, "pump", "1.0", clock=clock)
    imported(store, "pump", "1.0", cdx(npm("lodash", "4.17.15"), npm("moment", "2.29.1")), clock)
    before = {f.vulnerability_id: f.id for f in store.portfolio.findings(FindingQuery())}
    outcome = imported(
        store, "pump", "1.0", cdx(npm("lodash", "4.17.21"), npm("moment", "2.29.1")), clock
    )
    assert (outcome.result.delta.new, outcome.result.delta.resolved) == (0, 1)
    resolved = store.portfolio.finding(before["CVE-2021-23337"])
    assert (resolved.state, resolved.resolution) == ("resolved", "component-removed")
    kept = store.portfolio.finding(before["CVE-2022-24785"])
    assert kept.state == "open"  # same finding row: its triage history stays attached
    back = imported(
        store, "pump", "1.0", cdx(npm("lodash", "4.17.15"), npm("moment", "2.29.1")), clock
    )
    assert back.result.delta.reopened == 1
    assert store.portfolio.finding(before["CVE-2021-23337"]).state == "open"


def test_withdrawn_advisory_resolves_its_findings(store: SqlStore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    clock = clock_at()
    load(store, MOMENT_24785, clock=clock)
    make_product(store, "pump", "1.0", clock=clock)
    imported(store, "pump", "1.0", cdx(npm("moment", "2.29.1")), clock)
    record = json.loads(MOMENT_24785.read_text())
    record["withdrawn"] = "2026-12-02T00:00:00Z"
    record["modified"] = "2026-12-02T00:00:00Z"
    withdrawn = tmp_path / "withdrawn.json"
    withdrawn.write_text(json.dumps(record))
    load(store, withdrawn, clock=clock)
    delta = reevaluated(store, clock)
    assert delta.resolved == 1
    gone = store.portfolio.findings(FindingQuery(state="resolved"))
    assert [(f.vulnerability_id, f.resolution) for f in gone] == [
        ("CVE-2022-24785", "no-longer-matches")
    ]


def test_findings_filters(store: SqlStore) -> None:
    clock = clock_at()
    load(store, LODASH_23337, MOMENT_24785, clock=clock)
    make_product(store, "pump", "1.0", clock=clock)
    make_product(store, "meter", "7", clock=clock)
    imported(store, "pump", "1.0", cdx(npm("lodash", "4.17.15")), clock)
    since = tick(clock)
    imported(store, "meter", "7", cdx(npm("moment", "2.29.1")), clock)
    assert {
        f.product for f in store.portfolio.findings(FindingQuery(products=frozenset({"meter"})))
    } == {"meter"}
    assert len(store.portfolio.findings(FindingQuery(new_since=since))) == 1
    high = store.portfolio.findings(FindingQuery(min_severity=SeverityRating.HIGH))
    assert all(f.severity.rank >= SeverityRating.HIGH.rank for f in high)
    page = store.portfolio.findings(FindingQuery(limit=1))
    rest = store.portfolio.findings(FindingQuery(limit=10, after=page[0].id))
    assert len(page) == 1
    assert len(rest) == 1
    assert rest[0].id > page[0].id
    assert store.portfolio.findings(FindingQuery(kev=True)) == []
    detail = store.portfolio.finding(page[0].id)
    assert detail.evidence is not None
    assert detail.evidence["matches"][0]["method"] == "purl-range"
    with pytest.raises(NotFoundError):
        store.portfolio.finding(page[0].id, products=frozenset({"other"}))


def test_kev_addition_flags_open_findings(store: SqlStore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    clock = clock_at()
    load(store, LODASH_23337, clock=clock)
    make_product(store, "pump", "1.0", clock=clock)
    imported(store, "pump", "1.0", cdx(npm("lodash", "4.17.15")), clock)
    reevaluated(store, clock)
    kev_csv = tmp_path / "known_exploited_vulnerabilities.csv"
    kev_csv.write_text(
        "cveID,vendorProject,product,vulnerabilityName,dateAdded,shortDescription,"
        "requiredAction,dueDate,knownRansomwareCampaignUse,notes\n"
        "CVE-2021-23337,lodash,lodash,Lodash Command Injection,2026-12-01,x,Apply updates,"
        "2026-12-22,Unknown,\n"
    )
    load(store, kev_csv, clock=clock)
    delta = reevaluated(store, clock)
    assert (delta.kev_findings, delta.components) == (1, 0)
    [flagged] = store.portfolio.findings(FindingQuery(kev=True))
    assert flagged.cve_id == "CVE-2021-23337"


def test_identities_are_shared_across_releases(store: SqlStore) -> None:
    clock = clock_at()
    make_product(store, "pump", "1.0", "2.0", "3.0", clock=clock)
    for version in ("1.0", "2.0", "3.0"):
        imported(store, "pump", version, cdx(npm("lodash", "4.17.15"), npm("ms", version)), clock)
    with store.database.read("test") as conn:
        assert len(conn.execute(select(component.c.pk)).all()) == 4
        assert len(conn.execute(select(sbom_revision.c.pk)).all()) == 3


def test_finding_table_refuses_unknown_states(store: SqlStore) -> None:
    clock = clock_at()
    load(store, LODASH_23337, clock=clock)
    make_product(store, "pump", "1.0", clock=clock)
    imported(store, "pump", "1.0", cdx(npm("lodash", "4.17.15")), clock)
    with pytest.raises(StoreError, match=r"(?i)check"), store.database.write("test") as conn:
        conn.execute(finding.update().values(state="closed"))
    with store.database.read("test") as conn:
        assert conn.execute(text("SELECT state FROM finding")).scalar_one() == "open"


def test_reported_findings_need_provenance_and_survive_feed_changes(store: SqlStore) -> None:
    """REQUIREMENTS 11: how a finding was discovered is recorded; feeds never resolve it."""
    from medwarden.errors import UsageError
    from medwarden.portfolio.findings import FindingReport
    from medwarden.portfolio.model import DiscoveryMethod

    clock = clock_at()
    make_product(store, "pump", "1.0", clock=clock)
    imported(store, "pump", "1.0", cdx(npm("lodash", "4.17.15"), npm("ms", "2.1.3")), clock)
    with pytest.raises(UsageError):
        FindingReport("pkg:npm/ms@2.1.3", "CVE-2099-1", DiscoveryMethod.FEED, "nvd")
    with pytest.raises(UsageError):
        FindingReport("pkg:npm/ms@2.1.3", "CVE-2099-1", DiscoveryMethod.RESEARCHER_REPORT, " ")
    report = FindingReport(
        "pkg:npm/ms@2.1.3",
        "CVE-2099-1",
        DiscoveryMethod.RESEARCHER_REPORT,
        "ACME Labs",
        SeverityRating.HIGH,
        "ReDoS via crafted duration string",
    )
    found = store.portfolio.report_finding("pump", "1.0", report, actor="psirt", at=clock.now())
    assert (found.discovery_method, found.discovery_source, found.severity) == (
        "researcher_report",
        "ACME Labs",
        SeverityRating.HIGH,
    )
    with pytest.raises(ConflictError):
        store.portfolio.report_finding("pump", "1.0", report, actor="psirt", at=clock.now())
    with pytest.raises(NotFoundError):
        store.portfolio.report_finding(
            "pump",
            "1.0",
            FindingReport("pkg:npm/nope@1", "CVE-2099-1", DiscoveryMethod.INTERNAL_TEST, "pentest"),
            actor="psirt",
            at=clock.now(),
        )
    load(store, LODASH_23337, clock=clock)
    reevaluated(store, clock)
    assert store.portfolio.finding(found.id).state == "open"
    imported(store, "pump", "1.0", cdx(npm("lodash", "4.17.15")), clock)  # ms removed
    assert store.portfolio.finding(found.id).resolution == "component-removed"
    assert [e.action for e in store.audit.events()].count("finding.report") == 1
