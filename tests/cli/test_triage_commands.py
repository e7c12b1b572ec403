"""``medwarden triage decide|history`` and ``medwarden policy ...`` on both backends."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from medwarden.cli.app import app
from medwarden.store import open_store
from tests.store.portfolio_rows import (
    add_component,
    add_finding,
    add_kev,
    add_product,
    add_release,
    count_rows,
    status_of,
)

CVE = "CVE-2021-23337"
TRIAGE = [
    "--applicability",
    "lodash is bundled in the UI",
    "--verifiability",
    "reviewed the call sites",
    "--related-threats",
    "none known",
]


@dataclass
class Portfolio:
    """A store URL and the findings of CVE on lodash 4.17.20 in releases 1.0, 1.1, 2.0."""

    url: str
    findings: list[int]


@pytest.fixture
def portfolio(store_url: str) -> Portfolio:
    """A store with one product, three releases and a finding in each."""
    with open_store(store_url) as store:
        product = add_product(store, "pump")
        lodash = add_component(store, "lodash", "4.17.20")
        findings = [
            add_finding(store, add_release(store, product, v), lodash, CVE, cve_id=CVE)
            for v in ("1.0", "1.1", "2.0")
        ]
    return Portfolio(store_url, findings)


def run(runner: CliRunner, portfolio: Portfolio, *args: str) -> tuple[int, str, str]:
    """Invoke medwarden on the portfolio's store as alice."""
    result = runner.invoke(app, [*args, "--db", portfolio.url])
    return result.exit_code, result.stdout, result.stderr


def test_decide_and_history(runner: CliRunner, portfolio: Portfolio) -> None:
    """A decision is recorded, listed in the history (table and JSON) and audited."""
    target = str(portfolio.findings[0])
    code, out, err = run(
        runner,
        portfolio,
        "triage",
        "decide",
        target,
        "--status",
        "not-affected",
        "--justification",
        "vulnerable_code_not_in_execute_path",
        *TRIAGE,
        "--reason",
        "template() is never called",
        "--actor",
        "alice",
    )
    assert code == 0, err
    assert f"finding {target}: not_affected" in out
    code, out, err = run(runner, portfolio, "triage", "history", target)
    assert code == 0, err
    assert "not_affected" in out
    assert "alice" in out
    code, out, _ = run(runner, portfolio, "triage", "history", target, "--json")
    (record,) = json.loads(out)
    assert record["justification"] == "vulnerable_code_not_in_execute_path"
    assert record["actor"] == "alice"
    code, out, _ = run(runner, portfolio, "audit", "log")
    assert "triage.decide" in out
    code, out, _ = run(runner, portfolio, "triage", "history", str(portfolio.findings[1]))
    assert "no decision yet" in out


def test_refused_decisions_exit_2_and_store_nothing(
    runner: CliRunner, portfolio: Portfolio
) -> None:
    """KEV closure without assessment, missing triage fields, unknown values: exit 2."""
    with open_store(portfolio.url) as store:
        add_kev(store, CVE)
    target = str(portfolio.findings[0])
    code, _, err = run(runner, portfolio, "triage", "decide", target, "--status", "fixed", *TRIAGE)
    assert code == 2
    assert "[MW005]" in err
    assert "assessment" in err
    code, _, err = run(
        runner, portfolio, "triage", "decide", target, "--status", "affected", "--detail", "x"
    )
    assert code == 2
    assert "applicability" in err
    code, _, err = run(runner, portfolio, "triage", "decide", target, "--status", "closed")
    assert code == 2
    assert "under_investigation" in err  # the hint lists the statuses
    code, _, err = run(
        runner, portfolio, "triage", "decide", target, "--status", "fixed", "--expires", "soon"
    )
    assert code == 2
    code, _, err = run(runner, portfolio, "triage", "decide", "99999", "--status", "fixed")
    assert code == 2
    assert "[MW003]" in err
    with open_store(portfolio.url) as store:
        assert count_rows(store, "decision") == 0
        assert count_rows(store, "audit_event") == 0
    code, _, err = run(
        runner,
        portfolio,
        "triage",
        "decide",
        target,
        "--status",
        "fixed",
        *TRIAGE,
        "--assessment",
        "patched lodash in the UI bundle",
        "--approver",
        "bob",
        "--actor",
        "alice",
    )
    assert code == 0, err


def test_policy_commands(runner: CliRunner, portfolio: Portfolio) -> None:
    """add (log-only), carry, list, reconcile and disable."""
    code, out, err = run(
        runner,
        portfolio,
        "policy",
        "add",
        "--name",
        "try it",
        "--vulnerability",
        CVE,
        "--family",
        "npm",
        "--package",
        "lodash",
        "--range",
        "vers:npm/>=4.0.0|<4.17.21",
        "--status",
        "not_affected",
        "--impact",
        "template() is never called",
        *TRIAGE,
        "--mode",
        "log-only",
    )
    assert code == 0, err
    assert "logged 3" in out
    target = str(portfolio.findings[0])
    code, out, err = run(
        runner,
        portfolio,
        "triage",
        "decide",
        target,
        "--status",
        "affected",
        "--response",
        "update",
        "--response",
        "workaround_available",
        *TRIAGE,
    )
    assert code == 0, err
    _, out, _ = run(runner, portfolio, "triage", "history", target, "--json")
    decision_pk = str(json.loads(out)[0]["pk"])
    code, out, err = run(runner, portfolio, "policy", "carry", decision_pk, "--priority", "2")
    assert code == 0, err
    assert "applied 2" in out
    with open_store(portfolio.url) as store:
        assert [status_of(store, f) for f in portfolio.findings] == ["affected"] * 3
    code, out, err = run(runner, portfolio, "policy", "list")
    assert code == 0, err
    assert "try it" in out
    assert "log_only" in out
    _, out, _ = run(runner, portfolio, "policy", "list", "--json")
    policies = json.loads(out)
    assert [p["mode"] for p in policies] == ["log_only", "apply"]
    code, out, err = run(runner, portfolio, "policy", "reconcile")
    assert code == 0, err
    assert "applied 0" in out
    code, out, err = run(
        runner, portfolio, "policy", "disable", str(policies[1]["pk"]), "--reason", "superseded"
    )
    assert code == 0, err
    assert "reverted 2" in out
    with open_store(portfolio.url) as store:
        statuses = [status_of(store, f) for f in portfolio.findings]
    assert statuses == ["affected", "under_investigation", "under_investigation"]
    code, _, err = run(runner, portfolio, "policy", "disable", str(policies[1]["pk"]))
    assert code == 2
    assert "[MW004]" in err
    code, _, err = run(runner, portfolio, "policy", "carry", decision_pk, "--range", "vers:npm/>=x")
    assert code == 2
    assert "malformed" in err
    _, out, _ = run(runner, portfolio, "policy", "list", "--enabled-only")
    assert "try it" in out
