"""The portfolio over REST: products, releases, SBOM upload, findings, triage, scopes."""

from __future__ import annotations

from datetime import timedelta

from medwarden.auth.model import Role
from medwarden.services.auth import create_token, create_user
from medwarden.services.intel_load import load_paths
from medwarden.store import open_store
from tests.api.conftest import Api, assert_problem
from tests.auth.conftest import FAST_HASHING
from tests.portfolio_helpers import LODASH_23337, MOMENT_24785, cdx, npm

CDX = "application/vnd.cyclonedx+json"
SBOM = cdx(npm("lodash", "4.17.15"), npm("moment", "2.29.1"), npm("ms", "2.1.3"))


def _setup(api: Api) -> None:
    with open_store(api.url) as store:
        load_paths(store, [LODASH_23337, MOMENT_24785], clock=api.clock, workers=0)
    for slug, public in (("pump", True), ("meter", False)):
        created = api.call(
            "POST",
            "/api/v1/products",
            "analyst",
            json={
                "slug": slug,
                "name": slug.title(),
                "sbom_public": public,
                "markets": [{"market": "EU", "regime": "MDR"}],
            },
        )
        assert created.status_code == 201, created.text
        for version in ("1.0", "2.0"):
            made = api.call(
                "POST",
                f"/api/v1/products/{slug}/releases",
                "analyst",
                json={"version": version, "state": "released"},
            )
            assert made.status_code == 201, made.text
            up = api.call(
                "POST",
                f"/api/v1/products/{slug}/releases/{version}/sbom",
                "analyst",
                content=SBOM,
                headers={"Content-Type": CDX},
            )
            assert up.status_code == 201, up.text


def _scoped_token(api: Api, product: str) -> str:
    with open_store(api.url) as store:
        create_user(
            store.auth,
            "pumpteam",
            roles=[Role.SECURITY_ANALYST],
            products=[product],
            actor="setup",
            clock=api.clock,
            hashing=FAST_HASHING,
        )
        issued = create_token(
            store.auth,
            owner="pumpteam",
            name="ci",
            roles=[Role.SECURITY_ANALYST],
            lifetime=timedelta(days=7),
            actor="setup",
            clock=api.clock,
        )
    return issued.plaintext


def test_products_releases_and_sbom_revisions(api: Api) -> None:
    _setup(api)
    listed = api.call("GET", "/api/v1/products", "reader").json()
    assert [p["slug"] for p in listed["items"]] == ["meter", "pump"]
    release = api.call("GET", "/api/v1/products/pump/releases/1.0", "reader").json()
    assert release["current_revision"]["number"] == 1
    assert release["open_findings"] == 2
    again = api.call(
        "POST",
        "/api/v1/products/pump/releases/1.0/sbom",
        "analyst",
        content=cdx(npm("lodash", "4.17.21")),
        headers={"Content-Type": CDX},
    )
    assert again.json()["findings"]["resolved"] == 2
    revisions = api.call("GET", "/api/v1/products/pump/releases/1.0/revisions", "reader").json()
    assert [r["number"] for r in revisions] == [1, 2]
    first = api.call("GET", "/api/v1/products/pump/releases/1.0/sbom?revision=1", "reader")
    assert first.content == SBOM
    assert first.headers["content-type"].startswith(CDX)
    assert api.call("GET", "/api/v1/products/pump/releases/1.0/sbom", "reader").content != SBOM
    page = api.call("GET", "/api/v1/products/pump/releases?limit=1", "reader")
    assert len(page.json()["items"]) == 1
    assert 'rel="next"' in page.headers["link"]
    nxt = api.call(
        "GET",
        f"/api/v1/products/pump/releases?limit=1&cursor={page.json()['next_cursor']}",
        "reader",
    )
    assert nxt.json()["items"][0]["version"] == "2.0"
    dup = api.call("POST", "/api/v1/products", "admin", json={"slug": "pump", "name": "x"})
    assert_problem(dup, 409, "MW004")
    bad = api.call(
        "POST",
        "/api/v1/products/pump/releases/2.0/sbom",
        "analyst",
        content=b'{"bomFormat": "CycloneDX", ',
        headers={"Content-Type": CDX},
    )
    assert_problem(bad, 422, "MW112")
    state = api.call(
        "PUT",
        "/api/v1/products/pump/releases/2.0/state",
        "analyst",
        json={"state": "fielded", "reason": "shipped"},
    )
    assert state.json()["state"] == "fielded"


def test_public_sbom_link(api: Api) -> None:
    """REQUIREMENTS 6: a published product serves its released SBOMs without a token."""
    _setup(api)
    public = api.call("GET", "/api/v1/public/products/pump/releases/1.0/sbom")
    assert public.status_code == 200
    assert public.content == SBOM
    for path in (
        "/api/v1/public/products/meter/releases/1.0/sbom",  # not published
        "/api/v1/public/products/pump/releases/9.9/sbom",
        "/api/v1/public/products/none/releases/1.0/sbom",
    ):
        assert_problem(api.call("GET", path), 404, "MW003")
    api.call("POST", "/api/v1/products/pump/releases", "analyst", json={"version": "3.0-dev"})
    api.call(
        "POST",
        "/api/v1/products/pump/releases/3.0-dev/sbom",
        "analyst",
        content=SBOM,
        headers={"Content-Type": CDX},
    )
    dev = api.call("GET", "/api/v1/public/products/pump/releases/3.0-dev/sbom")
    assert_problem(dev, 404, "MW003")  # in development: not published


def test_findings_filters_detail_and_scopes(api: Api) -> None:
    _setup(api)
    all_open = api.call("GET", "/api/v1/findings?limit=500", "reader").json()["items"]
    assert len(all_open) == 8  # 2 products x 2 releases x (lodash, moment)
    one = api.call("GET", "/api/v1/findings?product=pump&release=1.0", "reader").json()["items"]
    assert {f["vulnerability_id"] for f in one} == {"CVE-2021-23337", "CVE-2022-24785"}
    page = api.call("GET", "/api/v1/findings?limit=3", "reader")
    second = api.call(
        "GET", f"/api/v1/findings?limit=3&cursor={page.json()['next_cursor']}", "reader"
    )
    assert {f["id"] for f in page.json()["items"]}.isdisjoint(
        f["id"] for f in second.json()["items"]
    )
    detail = api.call("GET", f"/api/v1/findings/{one[0]['id']}", "reader").json()
    assert detail["evidence"]["matches"][0]["method"] == "purl-range"
    assert api.call("GET", "/api/v1/findings?kev=true", "reader").json()["items"] == []
    assert_problem(api.call("GET", "/api/v1/findings?release=1.0", "reader"), 400, "MW001")
    # a token scoped to pump sees pump only
    scoped = _scoped_token(api, "pump")
    mine = api.client.get("/api/v1/findings?limit=500", token=scoped).json()["items"]
    assert {f["product"] for f in mine} == {"pump"}
    meter = next(f for f in all_open if f["product"] == "meter")
    assert_problem(api.client.get(f"/api/v1/findings/{meter['id']}", token=scoped), 404, "MW003")
    assert_problem(api.client.get("/api/v1/products/meter", token=scoped), 403, "MW502")
    assert_problem(api.client.get("/api/v1/findings?product=meter", token=scoped), 403, "MW502")
    assert {
        p["slug"] for p in api.client.get("/api/v1/products", token=scoped).json()["items"]
    } == {"pump"}


def test_reported_findings_need_provenance(api: Api) -> None:
    """REQUIREMENTS 11: a finding created without provenance is rejected by the API."""
    _setup(api)
    path = "/api/v1/products/pump/releases/1.0/findings"
    body = {"component_ref": "pkg:npm/ms@2.1.3", "vulnerability_id": "CVE-2099-0001"}
    assert_problem(api.call("POST", path, "analyst", json=body), 422, "MW001")
    assert_problem(
        api.call(
            "POST",
            path,
            "analyst",
            json={**body, "discovery_method": "feed", "discovery_source": "x"},
        ),
        400,
        "MW001",
    )
    made = api.call(
        "POST",
        path,
        "analyst",
        json={
            **body,
            "discovery_method": "researcher_report",
            "discovery_source": "ACME Labs",
            "severity": "high",
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["discovery_method"] == "researcher_report"


def test_triage_and_carry_over_over_rest(api: Api) -> None:
    _setup(api)
    [target] = api.call(
        "GET", "/api/v1/findings?product=pump&release=1.0&vulnerability=CVE-2021-23337", "reader"
    ).json()["items"]
    path = f"/api/v1/findings/{target['id']}/decisions"
    incomplete = api.call(
        "POST",
        path,
        "analyst",
        json={"status": "not_affected", "justification": "component_not_present"},
    )
    assert_problem(incomplete, 422, "MW005")
    decided = api.call(
        "POST",
        path,
        "analyst",
        json={
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
            "applicability": "transitive only",
            "verifiability": "code search",
            "related_threats": "none",
            "reason": "reviewed in PSIRT meeting",
        },
    )
    assert decided.status_code == 201, decided.text
    assert_problem(api.call("POST", path, "reader", json={"status": "affected"}), 403, "MW502")
    carried = api.call(
        "POST", f"/api/v1/decisions/{decided.json()['id']}/carry", "analyst", json={}
    )
    assert carried.status_code == 201, carried.text
    assert carried.json()["counts"]["applied"] == 1  # pump 2.0 holds the same lodash
    [other] = api.call(
        "GET", "/api/v1/findings?product=pump&release=2.0&vulnerability=CVE-2021-23337", "reader"
    ).json()["items"]
    assert other["status"] == "not_affected"
    history = api.call("GET", f"/api/v1/findings/{other['id']}/decisions", "reader").json()
    assert history[-1]["policy_id"] == carried.json()["policy"]["id"]
    policies = api.call("GET", "/api/v1/policies", "reader").json()
    assert [p["id"] for p in policies] == [carried.json()["policy"]["id"]]
    undone = api.call("POST", f"/api/v1/policies/{policies[0]['id']}/disable", "analyst")
    assert undone.json()["counts"]["reverted"] == 1


def test_field_data_routes(api: Api) -> None:
    _setup(api)
    base = b"device_id,product,version,site\nSN-1,pump,1.0,Ward 3\nSN-2,pump,2.0,Home\n"
    loaded = api.call(
        "POST",
        "/api/v1/installed-base",
        "analyst",
        content=base,
        headers={"Content-Type": "text/csv"},
    )
    assert loaded.json() == {"units": 2, "new": 2, "updated": 0}
    used = api.call(
        "GET", "/api/v1/components/where-used?name=lodash&version=4.17.15", "reader"
    ).json()
    assert [(u["product"], u["release"], u["units"]) for u in used] == [
        ("meter", "1.0", 0),
        ("meter", "2.0", 0),
        ("pump", "1.0", 1),
        ("pump", "2.0", 1),
    ]
    assert api.call("GET", "/api/v1/end-of-support?today=2026-11-22", "reader").json() == []
    delta = api.call("POST", "/api/v1/portfolio/reevaluate", "analyst").json()
    assert delta["new"] == 0
    scoped = _scoped_token(api, "pump")
    foreign = api.client.post(
        "/api/v1/installed-base",
        token=scoped,
        content=b"device_id,product,version\nX,meter,1.0\n",
        headers={"Content-Type": "text/csv"},
    )
    assert_problem(foreign, 403, "MW502")


def test_list_endpoints_take_the_same_statements_at_any_size(api: Api) -> None:
    """Query counts of the list routes do not grow with releases, components or findings."""
    from tests.store.conftest import count_statements

    def statements(path: str) -> int:
        with count_statements(api.app.state.store) as seen:
            response = api.call("GET", path, "reader")
        assert response.status_code == 200, response.text
        return len(seen)

    routes = (
        "/api/v1/findings?limit=500&state=all",
        "/api/v1/products",
        "/api/v1/products/pump/releases",
    )
    _setup(api)
    api.call("GET", "/api/v1/me", "reader")  # the token's last-use stamp, once a minute
    small = [statements(path) for path in routes]
    filler = [npm(f"filler-{i}", "1.0.0") for i in range(60)]
    for version in (f"{i}.5" for i in range(8)):
        api.call("POST", "/api/v1/products/pump/releases", "analyst", json={"version": version})
        api.call(
            "POST",
            f"/api/v1/products/pump/releases/{version}/sbom",
            "analyst",
            content=cdx(npm("lodash", "4.17.15"), npm("moment", "2.29.1"), *filler),
            headers={"Content-Type": CDX},
        )
    assert len(api.call("GET", "/api/v1/findings?limit=500", "reader").json()["items"]) == 24
    assert [statements(path) for path in routes] == small
