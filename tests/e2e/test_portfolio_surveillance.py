"""Issue 3 acceptance, end to end on SQLite and on a real PostgreSQL.

A product with two releases from a corpus SBOM (release 2.0 is the same application
with express-jwt upgraded to 6.0.0, as its next release would be); part of the corpus
intelligence is loaded, findings are triaged, a decision is carried to the second
release by policy; the rest of the intelligence arrives and exactly the expected new
findings appear, a signed notification reaches a local webhook receiver, and a
tampered audit row is named by ``medwarden audit verify``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from typer.testing import CliRunner

from medwarden.cli.app import app
from medwarden.notify.signing import verify_signature
from medwarden.portfolio.findings import FindingQuery
from medwarden.services.notifications import deliver_due
from medwarden.services.triage import decide, decision_from_text
from medwarden.store import SqlStore, open_store
from tests.cli.test_audit_commands import attack, rows
from tests.conftest import FIXTURES
from tests.ops_helpers import SECRET, webhook, webhook_receiver
from tests.portfolio_helpers import (
    OSV,
    clock_at,
    imported,
    load,
    make_product,
    reevaluated,
    tick,
)

JUICE_SHOP = FIXTURES / "sboms" / "juice-shop-14.1.1.cdx-1.6.json"
FIRST_PART = [
    OSV / "GHSA-35jh-r3h4-6jhm.json",  # lodash, CVE-2021-23337
    OSV / "GHSA-jf85-cpcp-j695.json",  # lodash, CVE-2019-10744
    OSV / "GHSA-p6mc-m468-83gw.json",  # lodash, CVE-2020-8203
    OSV / "GHSA-c7hr-j4mj-j2w6.json",  # jsonwebtoken, CVE-2015-9235
    OSV / "GHSA-6g6m-m6h5-w9gf.json",  # express-jwt, CVE-2020-15084
]
THE_REST = [
    OSV,
    FIXTURES / "intel" / "nvd",
    FIXTURES / "intel" / "cve5",
    FIXTURES / "intel" / "kev",
    FIXTURES / "intel" / "epss",
]


def _next_release() -> bytes:
    """Juice Shop 14.1.1 with express-jwt 0.1.3 upgraded to 6.0.0."""
    document = json.loads(JUICE_SHOP.read_text())

    def walk(components: list[dict[str, Any]]) -> None:
        for c in components:
            if c.get("name") == "express-jwt" and c.get("version") == "0.1.3":
                c["version"] = "6.0.0"
                c["purl"] = "pkg:npm/express-jwt@6.0.0"
            walk(c.get("components", []))

    walk(document["components"])
    return json.dumps(document).encode()


def _open(store: SqlStore, release: str) -> set[tuple[str, str, str]]:
    query = FindingQuery(products=frozenset({"shop"}), release=release, limit=500)
    return {
        (f.component_name, f.component_version or "", f.vulnerability_id)
        for f in store.portfolio.findings(query)
    }


def test_portfolio_surveillance_end_to_end(store_url: str) -> None:
    clock = clock_at()
    with open_store(store_url) as store:
        # 1. a product, two releases, part of the intelligence
        make_product(store, "shop", "1.0", "2.0", clock=clock)
        load(store, *FIRST_PART, clock=clock)
        imported(store, "shop", "1.0", JUICE_SHOP.read_bytes(), clock)
        imported(store, "shop", "2.0", _next_release(), clock)
        first = {
            ("lodash", "2.4.2", "CVE-2021-23337"),
            ("lodash", "2.4.2", "CVE-2019-10744"),
            ("lodash", "2.4.2", "CVE-2020-8203"),
            ("jsonwebtoken", "0.1.0", "CVE-2015-9235"),
            ("jsonwebtoken", "0.4.0", "CVE-2015-9235"),
        }
        assert _open(store, "1.0") == first | {("express-jwt", "0.1.3", "CVE-2020-15084")}
        assert _open(store, "2.0") == first

        # 2. triage on 1.0, carried to 2.0 by policy
        [target] = store.portfolio.findings(
            FindingQuery(
                products=frozenset({"shop"}), release="1.0", vulnerability="CVE-2021-23337"
            )
        )
        decision = decision_from_text(
            "not_affected",
            justification="vulnerable_code_not_in_execute_path",
            impact_statement="template() is never called with user input",
            applicability="lodash 2.4.2 is a transitive dependency of sanitize-html",
            verifiability="code search of the shipped bundle",
            related_threats="none",
        )
        record = decide(store.triage, target.id, decision, actor="alice", clock=clock)
        tick(clock)
        outcome = store.triage.carry_decision(record.pk, actor="alice", now=clock.now())
        assert outcome.counts.applied == 1
        [carried] = store.portfolio.findings(
            FindingQuery(
                products=frozenset({"shop"}), release="2.0", vulnerability="CVE-2021-23337"
            )
        )
        assert carried.status == "not_affected"
        assert store.triage.history(carried.id)[-1].policy_pk == outcome.policy.pk

        # 3. a webhook channel, then the rest of the intelligence
        with webhook_receiver() as receiver, httpx.Client() as client:
            store.notifications.add_channel(
                webhook("psirt", receiver.url), actor="admin", at=clock.now()
            )
            tick(clock)
            load(store, *THE_REST, clock=clock)
            delta = reevaluated(store, clock)
            later = {
                ("braces", "2.3.2", "CVE-2024-4068"),
                ("moment", "2.0.0", "CVE-2022-24785"),
                ("vm2", "3.9.11", "CVE-2023-30547"),
                ("ws", "7.4.6", "CVE-2024-37890"),
            }
            assert delta.new == 2 * len(later)
            assert _open(store, "1.0") == first | later | {
                ("express-jwt", "0.1.3", "CVE-2020-15084")
            }
            assert _open(store, "2.0") == first | later
            assert store.portfolio.finding(carried.id).status == "not_affected"

            report = deliver_due(store.notifications, clock, worker="test", client=client)
            assert report.delivered >= 4
        news = [json.loads(r.body) for r in receiver.requests]
        for request in receiver.requests:
            signature = request.headers["Medwarden-Signature"]
            assert verify_signature(SECRET, request.body, signature, now=clock.now())
        new_findings = {
            n["payload"]["vulnerability_id"] for n in news if n["kind"] == "new_finding"
        }
        assert new_findings == {vid for _n, _v, vid in later}
        assert all(
            n["payload"]["releases"] == ["1.0", "2.0"] for n in news if n["kind"] == "new_finding"
        )
        count, _head = store.audit.head()

    # 4. tamper with one audit row: verify names it
    (row,) = rows(store_url, 5)
    attack(store_url, ("UPDATE audit_event SET actor = 'mallory' WHERE seq = 5", {}))
    result = CliRunner().invoke(app, ["audit", "verify", "--db", store_url])
    assert result.exit_code == 4, result.stdout
    assert "audit event 5" in result.stderr
    assert row["actor"] != "mallory"
    assert count > 5
