"""Monitoring: per-product schedule, recorded runs, and liveness alerts (both backends).

The requirement's case: with a 24 h interval and a feed failing for 49 h, a liveness
alert exists (and a notification about it is in the outbox); at 48 h there is none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from medwarden.core.clock import FixedClock
from medwarden.errors import IntelFetchError, NotFoundError, UsageError
from medwarden.notify.alerts import AlertDraft
from medwarden.notify.model import DeliveryState, NotificationKind
from medwarden.services.intel_load import load_paths
from medwarden.services.monitoring import (
    LIVENESS_KIND,
    RunOutcome,
    RunTrigger,
    check_liveness,
    due_products,
    liveness_key,
    monitoring_tick,
    run_monitoring,
)
from medwarden.store import SqlStore
from medwarden.store.schema_ops import notification as notification_table
from tests.ops_helpers import T0, add_product, email, notification
from tests.store.conftest import count_statements

KEV = Path(__file__).parents[1] / "fixtures" / "intel" / "kev"
DAY = 86_400


class Feed:
    """An evaluation whose feed can be switched off."""

    def __init__(self) -> None:
        self.failing = False
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, products: Sequence[str]) -> Mapping[str, int]:
        self.calls.append(tuple(products))
        if self.failing:
            raise IntelFetchError("could not fetch https://nvd.example/feed: HTTP 503")
        return {"new": 1, "changed": 0, "resolved": 0}


def _liveness_notifications(store: SqlStore) -> list[str]:
    query = select(notification_table.c.dedupe_key).where(
        notification_table.c.kind == NotificationKind.MONITORING_LIVENESS.value
    )
    with store.database.read("test") as conn:
        return sorted(conn.execute(query).scalars())


def test_a_feed_failing_for_49_hours_raises_a_liveness_alert(store: SqlStore) -> None:
    """24 h interval; the last success at T0; hourly ticks fail from then on: alert at 49 h."""
    add_product(store, "pump", interval_s=DAY, created_at=T0 - timedelta(days=30))
    store.notifications.add_channel(email("psirt", "psirt@example.org"), actor="a", at=T0)
    clock, feed = FixedClock(T0), Feed()
    first = monitoring_tick(store, clock, feed)
    assert first.due == ("pump",)
    assert first.run is not None
    assert first.run.outcome is RunOutcome.SUCCEEDED
    feed.failing = True
    for hour in range(1, 50):
        clock.set(T0 + timedelta(hours=hour))
        report = monitoring_tick(store, clock, feed)
        if hour < 24:
            assert report.due == ()  # the last success is less than an interval old
        else:
            assert report.due == ("pump",)
            assert report.error == "[MW122] could not fetch https://nvd.example/feed: HTTP 503"
        if hour <= 48:
            assert report.liveness.raised == (), hour
            assert store.monitoring.open_alerts() == []
    assert report.liveness.raised == ("pump",)
    (alert,) = store.monitoring.open_alerts()
    assert (alert.kind, alert.product, alert.dedupe_key) == (
        LIVENESS_KIND,
        "pump",
        liveness_key("pump"),
    )
    assert alert.raised_at == T0 + timedelta(hours=49)
    assert alert.detail["last_success_at"] == "2026-11-25T09:00:00Z"
    assert alert.detail["overdue_since"] == "2026-11-27T09:00:00Z"
    assert _liveness_notifications(store) == ["monitoring_liveness:pump:2026-11-25T09:00:00Z"]
    assert store.notifications.delivery_counts()[DeliveryState.PENDING] == 1  # to psirt
    runs = store.monitoring.runs(limit=100)
    failed = [r for r in runs if r.outcome is RunOutcome.FAILED]
    assert len(failed) == 26  # hours 24..49
    assert (failed[0].error_code, failed[0].trigger) == ("MW122", RunTrigger.SCHEDULE)
    actions = [e.action for e in store.audit.events()]
    assert actions.count("monitoring.alert_raise") == 1


def test_the_alert_stays_single_and_clears_after_a_success(store: SqlStore) -> None:
    """Later checks leave the open alert alone; a success clears it; a new outage re-raises."""
    add_product(store, "pump", interval_s=DAY, created_at=T0)
    clock, feed = FixedClock(T0 + timedelta(hours=49)), Feed()
    assert check_liveness(store, clock.now()).raised == ("pump",)  # never succeeded since creation
    again = check_liveness(store, clock.now() + timedelta(hours=1))
    assert (again.raised, again.still_open) == ((), ("pump",))
    run_monitoring(store, ["pump"], lambda: feed(["pump"]), clock)
    cleared = check_liveness(store, clock.now())
    assert cleared.cleared == ("pump",)
    assert store.monitoring.open_alerts() == []
    clock.set(clock.now() + timedelta(hours=49))
    assert check_liveness(store, clock.now()).raised == ("pump",)
    keys = _liveness_notifications(store)
    assert len(keys) == 2  # one per outage, each delivered once
    events = [e for e in store.audit.events() if e.subject_type == "alert"]
    assert [e.action for e in events] == [
        "monitoring.alert_raise",
        "monitoring.alert_clear",
        "monitoring.alert_raise",
    ]
    assert events[1].actor == "medwarden-monitor"
    assert events[1].reason == "a monitoring run succeeded"
    assert [a.is_open for a in store.monitoring.alerts()] == [True, False]


def test_due_products_follow_each_products_interval(store: SqlStore) -> None:
    """Never run: due.  Succeeded less than an interval ago: not due.  Failures don't count."""
    add_product(store, "daily", interval_s=DAY)
    add_product(store, "hourly", interval_s=3_600)
    add_product(store, "weekly", interval_s=7 * DAY)
    clock = FixedClock(T0)
    assert [s.slug for s in due_products(store, T0)] == ["daily", "hourly", "weekly"]
    run_monitoring(store, ["daily", "hourly", "weekly"], lambda: {}, clock, RunTrigger.SCHEDULE)
    assert due_products(store, T0 + timedelta(minutes=59)) == []
    later = T0 + timedelta(days=1)
    assert [s.slug for s in due_products(store, later)] == ["daily", "hourly"]
    feed = Feed()
    feed.failing = True
    with pytest.raises(IntelFetchError):
        run_monitoring(store, ["daily"], lambda: feed(["daily"]), FixedClock(later))
    assert [s.slug for s in due_products(store, later)] == ["daily", "hourly"]


def test_a_whole_portfolio_run_counts_for_every_product(store: SqlStore) -> None:
    """A run with ``product_slugs`` None is stored once and satisfies every schedule."""
    add_product(store, "a")
    add_product(store, "b")
    run = run_monitoring(store, None, lambda: {"new": 0}, FixedClock(T0), RunTrigger.INTEL_LOAD)
    assert run.products is None
    assert len(run.run_pks) == 1
    assert due_products(store, T0 + timedelta(hours=23)) == []
    (stored,) = store.monitoring.runs()
    assert (stored.products, stored.trigger) == (None, RunTrigger.INTEL_LOAD)
    assert [r.products for r in store.monitoring.runs(product="a")] == [None]


def test_due_products_is_one_query_whatever_the_portfolio_size(store: SqlStore) -> None:
    """Finding due products reads every schedule with one statement."""
    for n in range(30):
        add_product(store, f"p{n:02}", interval_s=DAY + n)
    run_monitoring(store, ["p00", "p01"], lambda: {}, FixedClock(T0))
    with count_statements(store) as seen:
        due = due_products(store, T0 + timedelta(hours=1))
    assert len(due) == 28
    assert len(seen) == 1


def test_a_run_records_start_end_outcome_and_feed_versions(store: SqlStore) -> None:
    """Started and ended times, the trigger, counts, and each source's freshness."""
    load_paths(store, [KEV], clock=FixedClock(T0 - timedelta(hours=2)), workers=0)
    add_product(store, "pump")
    ticks = iter([T0, T0 + timedelta(seconds=5)])

    class Ticking:
        def now(self) -> datetime:
            return next(ticks)

    run = run_monitoring(store, ["pump", "pump"], lambda: {"new": 2, "resolved": 1}, Ticking())
    (stored,) = store.monitoring.runs()
    assert stored.run_pks == run.run_pks
    assert (stored.started_at, stored.ended_at) == (T0, T0 + timedelta(seconds=5))
    assert (stored.outcome, stored.trigger) == (RunOutcome.SUCCEEDED, RunTrigger.MANUAL)
    assert stored.counts == {"new": 2, "resolved": 1}
    kev = stored.feed_versions["kev"]
    assert kev["records"] > 0
    assert kev["newest_modified"] is not None
    assert stored.feed_versions == run.feed_versions


def test_a_failed_run_is_recorded_and_raised(store: SqlStore) -> None:
    """The error's code and message are stored; the error propagates; bugs too."""
    add_product(store, "pump")
    clock = FixedClock(T0)

    def down() -> Mapping[str, int]:
        raise IntelFetchError("could not fetch the NVD feed")

    with pytest.raises(IntelFetchError):
        run_monitoring(store, ["pump"], down, clock)

    def bug() -> Mapping[str, int]:
        raise ZeroDivisionError("division by zero")

    with pytest.raises(ZeroDivisionError):
        run_monitoring(store, ["pump"], bug, clock)
    with pytest.raises(UsageError):
        run_monitoring(store, ["pump"], lambda: {"new": "many"}, clock)  # type: ignore[dict-item]
    runs = store.monitoring.runs()
    assert [(r.outcome, r.error_code) for r in runs] == [
        (RunOutcome.FAILED, "MW001"),
        (RunOutcome.FAILED, "internal"),
        (RunOutcome.FAILED, "MW122"),
    ]
    assert runs[2].error == "could not fetch the NVD feed"
    assert runs[1].error == "ZeroDivisionError: division by zero"
    with pytest.raises(NotFoundError, match="ghost"):
        run_monitoring(store, ["ghost"], lambda: {}, clock)
    with pytest.raises(UsageError):
        run_monitoring(store, [], lambda: {}, clock)
    with pytest.raises(UsageError):
        check_liveness(store, T0, factor=0)


def test_alerts_are_generic(store: SqlStore) -> None:
    """Other checks raise their own kinds (audited in their own area), once per key."""
    add_product(store, "pump")
    store.notifications.add_channel(email("psirt", "psirt@example.org"), actor="a", at=T0)
    draft = AlertDraft("end_of_support", "eos:pump:1.0", product="pump", detail={"days": 30})
    note = notification("eos:pump:1.0:2026", kind=NotificationKind.END_OF_SUPPORT, severity=None)
    raised = store.monitoring.raise_alert(
        draft, at=T0, actor="eos-check", notification=note, area="eos"
    )
    assert raised is not None
    assert raised.detail == {"days": 30}
    assert store.monitoring.raise_alert(draft, at=T0, actor="eos-check", area="eos") is None
    assert [a.dedupe_key for a in store.monitoring.open_alerts("end_of_support")] == [
        "eos:pump:1.0"
    ]
    assert store.monitoring.open_alerts(LIVENESS_KIND) == []
    cleared = store.monitoring.clear_alert("eos:pump:1.0", at=T0, actor="bob", area="eos")
    assert cleared is not None
    assert cleared.cleared_at == T0
    assert store.monitoring.clear_alert("eos:pump:1.0", at=T0, actor="bob") is None
    assert store.monitoring.raise_alert(draft, at=T0, actor="eos-check", area="eos") is not None
    assert [e.action for e in store.audit.events()][1:] == [
        "eos.alert_raise",
        "eos.alert_clear",
        "eos.alert_raise",
    ]
    assert store.notifications.delivery_counts()[DeliveryState.PENDING] == 1
    with pytest.raises(NotFoundError):
        store.monitoring.raise_alert(AlertDraft("x", "k", product="ghost"), at=T0, actor="a")
