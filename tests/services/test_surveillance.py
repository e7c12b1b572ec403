"""The surveillance pass a monitoring run performs, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from medwarden.portfolio.findings import FindingQuery
from medwarden.services.surveillance import EOS_ALERT, surveillance_pass
from medwarden.services.triage import decide, decision_from_text
from medwarden.store import SqlStore
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


def _pass(store: SqlStore, clock):  # type: ignore[no-untyped-def]
    return surveillance_pass(
        store.portfolio, store, store.monitoring, store.portfolio, store.triage, clock=clock
    )


def test_one_pass_reevaluates_expires_decisions_and_alerts_end_of_support(store: SqlStore) -> None:
    clock = clock_at(day=1)
    make_product(store, "pump", "1.0", clock=clock)
    sbom = cdx(
        npm("lodash", "4.17.15"),
        npm("old-lib", "0.1.0", levelOfSupport="abandoned", supportJustification="archived"),
    )
    load(store, LODASH_23337, clock=clock)
    imported(store, "pump", "1.0", sbom, clock)
    [found] = store.portfolio.findings(FindingQuery())
    decision = decision_from_text(
        "affected",
        responses=["update"],
        detail="upgrade in 1.1",
        applicability="used by the report module",
        verifiability="reproduced",
        related_threats="none",
        expires_at=clock.now() + timedelta(days=30),
    )
    decide(store.triage, found.id, decision, actor="alice", clock=clock)

    first = _pass(store, clock)
    assert (first["decisions_expired"], first["eos_alerts_raised"]) == (0, 1)
    [alert] = store.monitoring.open_alerts(EOS_ALERT)
    assert alert.product == "pump"
    assert "abandoned" in alert.detail["reason"]

    load(store, MOMENT_24785, clock=clock)  # nothing in the portfolio: no new finding
    clock.set(clock.now() + timedelta(days=31))
    second = _pass(store, clock)
    assert (second["new"], second["decisions_expired"], second["eos_alerts_raised"]) == (0, 1, 0)
    assert store.portfolio.finding(found.id).status == "under_investigation"
    history = store.triage.history(found.id)
    assert [r.decision.status.value for r in history] == ["affected", "under_investigation"]
    assert history[-1].reverts_pk == history[0].pk
    assert "triage.decision_expire" in [e.action for e in store.audit.events()]

    tick(clock)
    imported(store, "pump", "1.0", cdx(npm("lodash", "4.17.15")), clock)  # old-lib removed
    third = _pass(store, clock)
    assert (third["eos_alerts_cleared"], third["decisions_expired"]) == (1, 0)
    assert store.monitoring.open_alerts(EOS_ALERT) == []
