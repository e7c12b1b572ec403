"""``/api/v1/warnings``: list (filters, pages), show and acknowledge early warnings."""

from __future__ import annotations

from medwarden.core.clock import FixedClock
from medwarden.services.telemetry_checks import run_device_checks
from medwarden.store import open_store
from medwarden.telemetry.controllers.registry import ControllerRegistry
from medwarden.telemetry.envelope import record_hash
from tests.api.conftest import Api, assert_problem
from tests.store.warning_chain import PROP, Chain, at, decided, register


def seed_warnings(api: Api) -> dict[str, str]:
    """Ingest a loop with a tampered input and a wrong output; run its checks."""
    with open_store(api.url) as store:
        chain = Chain(register(store))
        chain.cycle(0, 150, "c0")
        reading = chain.sensor(5, 150)
        fed = chain.decision(5.5, 250)
        chain.temp(6, fed, decided(250)["rate_u_h"], "c1")
        chain.confirm(6.5, "c1", decided(250)["rate_u_h"])
        chain.send(store, 7)
        chain.cycle(10, 140, "c2")
        wrong = chain.decision(15.5, 140, {"rate_u_h": 0.0, "duration_min": 30, "smb_u": 0.0})
        chain.send(store, 17)
        found = run_device_checks(
            store.warnings,
            "pump-1",
            controllers=ControllerRegistry(PROP),
            clock=FixedClock(at(17)),
        )
    assert len(found) == 2
    return {"reading": record_hash(reading), "fed": record_hash(fed), "wrong": record_hash(wrong)}


def test_readers_list_warnings_newest_first_with_their_evidence(api: Api) -> None:
    hashes = seed_warnings(api)
    response = api.call("GET", "/api/v1/warnings", "reader")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [w["code"] for w in items] == ["decision_mismatch", "decision_input_mismatch"]
    mismatch, tampered = items
    assert [r["record_hash"] for r in tampered["evidence"]["records"]] == [
        hashes["reading"],
        hashes["fed"],
    ]
    assert [r["record_hash"] for r in mismatch["evidence"]["records"]] == [hashes["wrong"]]
    assert tampered["device_id"] == "pump-1"
    assert (tampered["severity"], tampered["state"], tampered["patient_ref"]) == (
        "high",
        "open",
        "P-001",
    )
    shown = api.call("GET", f"/api/v1/warnings/{tampered['id']}", "auditor")
    assert shown.json() == tampered


def test_filters_and_pages(api: Api) -> None:
    seed_warnings(api)
    first = api.call("GET", "/api/v1/warnings?limit=1", "reader")
    assert 'rel="next"' in first.headers["link"]
    cursor = first.json()["next_cursor"]
    second = api.call("GET", f"/api/v1/warnings?limit=1&cursor={cursor}", "reader").json()
    assert second["next_cursor"] is None
    assert [w["code"] for w in second["items"]] == ["decision_input_mismatch"]

    def codes(query: str) -> list[str]:
        response = api.call("GET", f"/api/v1/warnings?{query}", "reader")
        assert response.status_code == 200, response.text
        return [w["code"] for w in response.json()["items"]]

    assert codes("device_id=pump-1&severity=high&state=open") == [
        "decision_mismatch",
        "decision_input_mismatch",
    ]
    assert codes("device_id=pump-9") == []
    assert codes("severity=critical") == []
    assert codes("state=acknowledged") == []
    assert codes("since=2026-03-01T08:10:00Z") == ["decision_mismatch"]
    assert_problem(api.call("GET", "/api/v1/warnings?severity=dire", "reader"), 422, "MW001")


def test_an_analyst_acknowledges_once_with_a_note(api: Api) -> None:
    seed_warnings(api)
    (warning, _) = api.call("GET", "/api/v1/warnings", "reader").json()["items"]
    path = f"/api/v1/warnings/{warning['id']}/acknowledge"
    response = api.call("POST", path, "analyst", json={"note": "rate checked with the pump log"})
    assert response.status_code == 200, response.text
    done = response.json()
    assert (done["state"], done["note"]) == ("acknowledged", "rate checked with the pump log")
    assert done["acknowledged_by"].startswith("analyst (token ")
    assert_problem(api.call("POST", path, "analyst", json={"note": "again"}), 409, "MW004")
    with open_store(api.url) as store:
        event = list(store.audit.events())[-1]
    assert (event.action, event.subject_id, event.reason) == (
        "telemetry.warning_acknowledge",
        str(warning["id"]),
        "rate checked with the pump log",
    )
    listed = api.call("GET", "/api/v1/warnings?state=acknowledged", "reader").json()["items"]
    assert [w["id"] for w in listed] == [warning["id"]]


def test_acknowledging_needs_triage_a_note_and_an_existing_warning(api: Api) -> None:
    seed_warnings(api)
    path = "/api/v1/warnings/1/acknowledge"
    assert_problem(api.call("POST", path, "reader", json={"note": "x"}), 403, "MW502")
    assert_problem(api.call("POST", path, "auditor", json={"note": "x"}), 403, "MW502")
    assert_problem(api.call("POST", path, "analyst", json={"note": ""}), 422, "MW001")
    missing = "/api/v1/warnings/999999/acknowledge"
    assert_problem(api.call("POST", missing, "analyst", json={"note": "x"}), 404, "MW003")
    assert_problem(api.call("GET", "/api/v1/warnings/999999", "reader"), 404, "MW003")
    assert_problem(api.call("GET", "/api/v1/warnings"), 401, "MW501")
