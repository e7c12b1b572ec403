"""Support records, the annotated SBOM and the evidence pack over REST, with scopes."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import timedelta

from medwarden.auth.model import Role
from medwarden.sbom.reading import read_sbom
from medwarden.services.auth import create_token, create_user
from medwarden.services.intel_load import load_paths
from medwarden.store import open_store
from tests.api.conftest import Api, assert_problem
from tests.auth.conftest import FAST_HASHING
from tests.portfolio_helpers import LODASH_23337, cdx, npm

CDX = "application/vnd.cyclonedx+json"
SBOM = cdx(npm("lodash", "4.17.15"), npm("ms", "2.1.3"))
SUPPORT = "/api/v1/products/{}/releases/1.0/components/support"
MS = "pkg:npm/ms@2.1.3"


def _setup(api: Api) -> None:
    with open_store(api.url) as store:
        load_paths(store, [LODASH_23337], clock=api.clock, workers=0)
    for slug in ("pump", "meter"):
        made = api.call("POST", "/api/v1/products", "analyst", json={"slug": slug, "name": slug})
        assert made.status_code == 201, made.text
        api.call("POST", f"/api/v1/products/{slug}/releases", "analyst", json={"version": "1.0"})
        up = api.call(
            "POST",
            f"/api/v1/products/{slug}/releases/1.0/sbom",
            "analyst",
            content=SBOM,
            headers={"Content-Type": CDX},
        )
        assert up.status_code == 201, up.text


def _pump_token(api: Api) -> str:
    with open_store(api.url) as store:
        create_user(
            store.auth,
            "pumpteam",
            roles=[Role.SECURITY_ANALYST],
            products=["pump"],
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


def test_support_is_set_cleared_and_exported_in_the_annotated_sbom(api: Api) -> None:
    """PUT stores the record (audited), GET ?annotated=true carries it, the stored SBOM stays."""
    _setup(api)
    body = {"ref": MS, "level": "actively maintained", "end_of_support": "2030-06-30"}
    stored = api.call("PUT", SUPPORT.format("pump"), "analyst", json=body)
    assert stored.status_code == 200, stored.text
    assert stored.json() == {
        "product": "pump",
        "release": "1.0",
        "revision": 1,
        "ref": MS,
        "level": "actively_maintained",
        "end_of_support": "2030-06-30",
        "justification": None,
        "changed": True,
    }
    plain = api.call("GET", "/api/v1/products/pump/releases/1.0/sbom", "reader")
    assert plain.content == SBOM
    annotated = api.call("GET", "/api/v1/products/pump/releases/1.0/sbom?annotated=true", "reader")
    assert annotated.status_code == 200, annotated.text
    assert annotated.headers["content-type"].startswith(CDX)
    assert annotated.headers["x-medwarden-revision-sha256"] == hashlib.sha256(SBOM).hexdigest()
    assert annotated.headers["etag"] == f'"{hashlib.sha256(annotated.content).hexdigest()}"'
    component = read_sbom(annotated.content).sbom.component(MS)
    assert component is not None
    assert ("medwarden:end_of_support", "2030-06-30") in component.properties
    cleared = api.call("PUT", SUPPORT.format("pump"), "analyst", json={"ref": MS})
    assert cleared.json()["level"] is None
    with open_store(api.url) as store:
        actions = [e.action for e in store.audit.events()]
    assert actions.count("portfolio.support_set") == 2


def test_support_input_is_checked(api: Api) -> None:
    """Neither date nor justification is 422 MW005; unknown refs 404; readers 403."""
    _setup(api)
    level_only = api.call(
        "PUT", SUPPORT.format("pump"), "analyst", json={"ref": MS, "level": "abandoned"}
    )
    assert_problem(level_only, 422, "MW005")
    ghost = api.call("PUT", SUPPORT.format("pump"), "analyst", json={"ref": "x", "level": None})
    assert_problem(ghost, 404, "MW003")
    reader = api.call("PUT", SUPPORT.format("pump"), "reader", json={"ref": MS})
    assert_problem(reader, 403, "MW502")
    control = api.call(
        "PUT", SUPPORT.format("pump"), "analyst", json={"ref": MS, "justification": "a\x00b"}
    )
    assert_problem(control, 422, "MW001")
    both = api.call(
        "GET", "/api/v1/products/pump/releases/1.0/sbom?annotated=true&revision=1", "reader"
    )
    assert_problem(both, 400, "MW001")


def test_the_evidence_pack_is_a_zip_with_its_manifest_hash_and_checkpoint(api: Api) -> None:
    """GET .../evidence returns application/zip; the headers name the manifest hash."""
    _setup(api)
    api.call("PUT", SUPPORT.format("pump"), "analyst", json={"ref": MS, "justification": "n/a"})
    first = api.call("GET", "/api/v1/products/pump/releases/1.0/evidence", "reader")
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "application/zip"
    assert 'filename="evidence-pump-1.0.zip"' in first.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(first.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert (
            hashlib.sha256(archive.read("manifest.json")).hexdigest()
            == (first.headers["x-medwarden-manifest-sha256"])
        )
        assert archive.read("sbom/revision-0001.cdx.json") == SBOM
    assert manifest["audit"]["checkpoint"] == first.headers["x-medwarden-audit-checkpoint"]
    again = api.call("GET", "/api/v1/products/pump/releases/1.0/evidence", "auditor")
    assert again.content == first.content


def test_a_token_scoped_to_another_product_gets_403(api: Api) -> None:
    """Evidence packs and support records are product-scoped (403, not 404)."""
    _setup(api)
    token = _pump_token(api)
    mine = api.client.request("GET", "/api/v1/products/pump/releases/1.0/evidence", token=token)
    assert mine.status_code == 200
    for method, path, body in (
        ("GET", "/api/v1/products/meter/releases/1.0/evidence", None),
        ("PUT", SUPPORT.format("meter"), {"ref": MS, "justification": "x"}),
        ("GET", "/api/v1/products/meter/releases/1.0/sbom?annotated=true", None),
    ):
        refused = api.client.request(method, path, token=token, json=body)
        assert_problem(refused, 403, "MW502")
