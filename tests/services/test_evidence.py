"""The evidence pack of a product version (REQUIREMENTS 52), on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from medwarden.audit.chain import Checkpoint
from medwarden.core.clock import FixedClock
from medwarden.errors import NotFoundError
from medwarden.portfolio.findings import FindingQuery
from medwarden.portfolio.support import ComponentSupport
from medwarden.services.audit import verify
from medwarden.services.evidence import PACK_FORMAT, EvidencePack, evidence_pack
from medwarden.store import SqlStore
from medwarden.vex.carryover import CarryOverPolicy
from medwarden.vex.model import VexJustification, VexStatus
from medwarden.vex.triage import Response, TriageDecision
from tests.portfolio_helpers import (
    LODASH_23337,
    MOMENT_24785,
    cdx,
    clock_at,
    imported,
    load,
    make_product,
    npm,
    tick,
)

TRIAGED = {
    "applicability": "bundled in the UI",
    "verifiability": "call sites reviewed",
    "related_threats": "none",
}
AFFECTED = TriageDecision(status=VexStatus.AFFECTED, responses=(Response.UPDATE,), **TRIAGED)
NOT_AFFECTED = TriageDecision(
    status=VexStatus.NOT_AFFECTED,
    justification=VexJustification.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH,
    **TRIAGED,
)
FIRST = cdx(npm("lodash", "4.17.15"), npm("moment", "2.29.1"), npm("ms", "2.1.3"))
SECOND = cdx(npm("lodash", "4.17.15"), npm("ms", "2.1.3"))


@dataclass
class Scenario:
    """The pump portfolio after imports, decisions, a policy and a support change."""

    clock: FixedClock
    lodash: int
    moment: int
    policy: int


def _findings(store: SqlStore, slug: str) -> dict[str, int]:
    query = FindingQuery(products=frozenset({slug}), release="1.0", state=None, limit=500)
    return {f.component_name: f.id for f in store.portfolio.findings(query)}


@pytest.fixture
def scenario(store: SqlStore) -> Scenario:
    """pump@1.0 with two revisions (moment removed), an edited assessment, a policy
    decision, a support change; pump@2.0 and meter@1.0 are noise the pack must skip."""
    clock = clock_at()
    load(store, LODASH_23337, MOMENT_24785, clock=clock)
    make_product(store, "pump", "1.0", "2.0", clock=clock)
    make_product(store, "meter", "1.0", clock=clock)
    imported(store, "pump", "1.0", FIRST, clock)
    imported(store, "pump", "2.0", FIRST, clock)
    imported(store, "meter", "1.0", FIRST, clock)
    found = _findings(store, "pump")
    store.triage.decide(found["lodash"], AFFECTED, actor="alice", now=tick(clock))
    store.triage.decide(
        found["lodash"], NOT_AFFECTED, actor="bob", now=tick(clock), reason="re-assessed"
    )
    policy = CarryOverPolicy(
        name="moment unused",
        vulnerability_id="CVE-2022-24785",
        family="npm",
        package_name="moment",
        decision=NOT_AFFECTED,
        component_version="2.29.1",
        product="pump",
    )
    outcome = store.triage.create_policy(policy, actor="carol", now=tick(clock))
    meter = _findings(store, "meter")
    store.triage.decide(meter["lodash"], AFFECTED, actor="dave", now=tick(clock))
    imported(store, "pump", "1.0", SECOND, clock)  # moment goes: its finding is resolved
    store.support.set_support(
        "pump",
        "1.0",
        "pkg:npm/ms@2.1.3",
        ComponentSupport("actively maintained", date(2030, 1, 1)),
        actor="alice",
        at=tick(clock),
    )
    tick(clock)
    return Scenario(clock, found["lodash"], found["moment"], int(outcome.policy.pk or 0))


def _unzip(pack: EvidencePack) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(pack.data)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def _json(files: dict[str, bytes], name: str) -> Any:
    return json.loads(files[name])


def test_every_file_is_listed_with_its_hash_and_the_checkpoint_verifies(
    store: SqlStore, scenario: Scenario
) -> None:
    """R52: the export holds hashes of every included record and the audit trail head."""
    pack = evidence_pack(store.evidence, store.audit, "pump", "1.0", clock=scenario.clock)
    files = _unzip(pack)
    manifest = _json(files, "manifest.json")
    assert manifest["format"] == PACK_FORMAT
    assert (manifest["product"], manifest["release"]) == ("pump", "1.0")
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json"}
    for path, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(files[path]).hexdigest(), path
        assert entry["bytes"] == len(files[path])
    sums = dict(reversed(line.split("  ", 1)) for line in files["SHA256SUMS"].decode().splitlines())
    assert sums == {p: e["sha256"] for p, e in listed.items() if p != "SHA256SUMS"}
    assert pack.manifest_sha256 == hashlib.sha256(files["manifest.json"]).hexdigest()
    checkpoint = Checkpoint.parse(manifest["audit"]["checkpoint"])
    assert checkpoint == pack.checkpoint
    assert checkpoint.count == len(list(store.audit.events()))
    assert verify(store.audit, checkpoint=checkpoint).count == checkpoint.count
    assert str(checkpoint) in files["README.txt"].decode()
    assert "sha256sum -c SHA256SUMS" in files["README.txt"].decode()


def test_revisions_facts_and_support_are_included(store: SqlStore, scenario: Scenario) -> None:
    """Every SBOM revision as imported, the product and release facts, support records."""
    files = _unzip(evidence_pack(store.evidence, store.audit, "pump", "1.0", clock=scenario.clock))
    assert files["sbom/revision-0001.cdx.json"] == FIRST
    assert files["sbom/revision-0002.cdx.json"] == SECOND
    release = _json(files, "release.json")
    assert release["current_revision"] == 2
    for revision, document in zip(release["revisions"], (FIRST, SECOND), strict=True):
        assert revision["sha256"] == hashlib.sha256(document).hexdigest()
    assert _json(files, "product.json")["slug"] == "pump"
    assert _json(files, "support.json") == [
        {
            "ref": "pkg:npm/ms@2.1.3",
            "level": "actively_maintained",
            "end_of_support": "2030-01-01",
            "justification": None,
        }
    ]


def test_an_edited_assessment_keeps_both_versions_in_the_pack(
    store: SqlStore, scenario: Scenario
) -> None:
    """R52: the earlier decision stays retrievable and both appear, with their audit events."""
    files = _unzip(evidence_pack(store.evidence, store.audit, "pump", "1.0", clock=scenario.clock))
    lodash = _json(files, f"findings/finding-{scenario.lodash:08d}.json")
    history = store.triage.history(scenario.lodash)
    assert [d["pk"] for d in lodash["decisions"]] == [d.pk for d in history]
    statuses = [(d["actor"], d["decision"]["status"], d["current"]) for d in lodash["decisions"]]
    assert statuses == [("alice", "affected", False), ("bob", "not_affected", True)]
    assert lodash["current_decision_pk"] == history[-1].pk
    assert lodash["finding"]["evidence"]["matches"]
    events = _json(files, "audit/events.json")
    decided = [e for e in events if e["subject_type"] == "finding"]
    assert [e["action"] for e in decided] == ["triage.decide", "triage.decide"]
    assert decided[1]["before"]["status"] == "affected"
    assert decided[1]["after"]["status"] == "not_affected"


def test_resolved_findings_policies_and_only_this_release_s_events(
    store: SqlStore, scenario: Scenario
) -> None:
    """Resolved findings stay; the policy behind a decision comes with its events; events
    of other releases and products are left out."""
    files = _unzip(evidence_pack(store.evidence, store.audit, "pump", "1.0", clock=scenario.clock))
    moment = _json(files, f"findings/finding-{scenario.moment:08d}.json")
    assert moment["finding"]["state"] == "resolved"
    assert [a["policy_pk"] for a in moment["policy_applications"]] == [scenario.policy]
    assert moment["decisions"][-1]["policy_pk"] == scenario.policy
    assert [p["pk"] for p in _json(files, "policies.json")] == [scenario.policy]
    events = _json(files, "audit/events.json")
    subjects = {(e["subject_type"], e["subject_id"]) for e in events}
    assert ("policy", str(scenario.policy)) in subjects
    assert ("release", "pump@1.0") in subjects
    assert ("product", "pump") in subjects
    assert not {s for s in subjects if "meter" in s[1] or s[1] == "pump@2.0"}
    actions = {e["action"] for e in events}
    assert {"portfolio.sbom_import", "portfolio.support_set", "triage.policy_apply"} <= actions
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)


def test_event_hashes_recompute_as_the_readme_says(store: SqlStore, scenario: Scenario) -> None:
    """The README's recipe re-computes each event's chain hash from the pack alone."""
    files = _unzip(evidence_pack(store.evidence, store.audit, "pump", "1.0", clock=scenario.clock))
    for event in _json(files, "audit/events.json"):
        content = {k: v for k, v in event.items() if k != "hash"}
        body = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(
            b"medwarden-audit-v1\x00" + bytes.fromhex(event["prev_hash"]) + body.encode()
        ).hexdigest()
        assert digest == event["hash"]


def test_the_same_state_exports_byte_identically(store: SqlStore, scenario: Scenario) -> None:
    """Sorted entries dated by the export clock: equal state and clock give equal bytes."""
    first = evidence_pack(store.evidence, store.audit, "pump", "1.0", clock=scenario.clock)
    second = evidence_pack(store.evidence, store.audit, "pump", "1.0", clock=scenario.clock)
    assert first.data == second.data
    with zipfile.ZipFile(io.BytesIO(first.data)) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        stamp = scenario.clock.now()
        wanted = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
        assert {info.date_time for info in archive.infolist()} == {wanted}
    store.triage.decide(scenario.lodash, AFFECTED, actor="erin", now=scenario.clock.now())
    third = evidence_pack(store.evidence, store.audit, "pump", "1.0", clock=scenario.clock)
    assert third.data != first.data
    assert third.checkpoint.count == first.checkpoint.count + 1


def test_an_unknown_release_is_not_found(store: SqlStore, scenario: Scenario) -> None:
    """No pack for a release that does not exist."""
    with pytest.raises(NotFoundError):
        evidence_pack(store.evidence, store.audit, "pump", "9.9", clock=scenario.clock)
