"""``/api/v1/audit/events`` and ``/api/v1/audit/verify``: auditors read and verify the trail."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from medwarden.store.db import resolve_url
from tests.api.conftest import Api, assert_problem


def test_auditors_page_through_events(api: Api) -> None:
    """Events in seq order, 3 a page, via next_cursor; filters select by subject and action."""
    seen: list[int] = []
    url = "/api/v1/audit/events?limit=3"
    while url:
        body = api.call("GET", url, "auditor").json()
        seen += [event["seq"] for event in body["items"]]
        url = (
            ""
            if body["next_cursor"] is None
            else f"/api/v1/audit/events?limit=3&cursor={body['next_cursor']}"
        )
    assert seen == list(range(1, 9))  # 4 users + 4 tokens created by the fixture
    tokens = api.call("GET", "/api/v1/audit/events?action=auth.token_create", "auditor").json()
    assert [e["subject_type"] for e in tokens["items"]] == ["api_token"] * 4
    one = api.call("GET", "/api/v1/audit/events?subject_type=user&subject_id=reader", "admin")
    (event,) = one.json()["items"]
    assert event["action"] == "auth.user_create"
    assert event["actor"] == "setup"
    assert len(event["hash"]) == 64
    filtered = api.call(
        "GET", "/api/v1/audit/events?limit=1&subject_type=api_token", "admin"
    ).json()
    assert filtered["items"][0]["seq"] == 2
    after = api.call(
        "GET",
        f"/api/v1/audit/events?limit=1&subject_type=api_token&cursor={filtered['next_cursor']}",
        "admin",
    )
    assert after.json()["items"][0]["seq"] == 4


def test_only_auditors_and_admins_read_the_trail(api: Api) -> None:
    """Analysts and readers get 403 on both audit routes."""
    for who in ("analyst", "reader"):
        assert_problem(api.call("GET", "/api/v1/audit/events", who), 403, "MW502")
        assert_problem(api.call("GET", "/api/v1/audit/verify", who), 403, "MW502")


def test_verify(api: Api) -> None:
    """An intact trail verifies with count, head and checkpoint, which a later call can check."""
    body = api.call("GET", "/api/v1/audit/verify", "auditor").json()
    assert body["intact"] is True
    assert body["count"] == 8
    assert body["checkpoint"] == f"8:{body['head']}"
    assert body["matches_checkpoint"] is None
    again = api.call("GET", f"/api/v1/audit/verify?checkpoint={body['checkpoint']}", "auditor")
    assert again.json()["matches_checkpoint"] is True
    forged = api.call("GET", f"/api/v1/audit/verify?checkpoint=9:{'0' * 64}", "auditor").json()
    assert forged["intact"] is False
    assert forged["code"] == "MW400"
    assert forged["detail"].startswith("audit event 9")
    bad = api.call("GET", "/api/v1/audit/verify?checkpoint=nine", "auditor")
    assert "not an audit checkpoint" in assert_problem(bad, 400, "MW001")["detail"]


def test_verify_names_a_tampered_event(api: Api) -> None:
    """Someone with database access alters event 3: verify says so (200, intact false)."""
    engine = create_engine(resolve_url(api.url))
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER ALL"))
            else:
                conn.execute(text("DROP TRIGGER audit_event_no_update"))
            conn.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE seq = 3"))
    finally:
        engine.dispose()
    body = api.call("GET", "/api/v1/audit/verify", "auditor").json()
    assert body["intact"] is False
    assert body["detail"].startswith("audit event 3 was altered")
