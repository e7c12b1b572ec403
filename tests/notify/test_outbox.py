"""The outbox on SQLite and PostgreSQL: idempotent enqueue, fan-out, claims, channel audit."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from medwarden.errors import ConflictError, NotFoundError
from medwarden.intel.cvss import SeverityRating
from medwarden.notify.model import DeliveryState, NotificationKind
from medwarden.services.jobs import JobState
from medwarden.store import SqlStore
from medwarden.store.notification_repository import enqueue_notifications
from medwarden.store.schema_ops import notification as notification_table
from medwarden.store.schema_ops import notification_delivery
from tests.ops_helpers import SECRET, T0, add_product, email, notification, webhook

HOOK = "https://receiver.example/hook"


def _deliveries(store: SqlStore) -> list[tuple[str, str, str]]:
    """(dedupe key, channel name, state) of every delivery row."""
    from medwarden.store.schema_ops import notification_channel

    query = (
        select(
            notification_table.c.dedupe_key,
            notification_channel.c.name,
            notification_delivery.c.state,
        )
        .join(notification_table)
        .join(notification_channel)
        .order_by(notification_table.c.dedupe_key, notification_channel.c.name)
    )
    with store.database.read("test") as conn:
        return [tuple(row) for row in conn.execute(query)]


def test_enqueue_fans_out_to_matching_channels_once(store: SqlStore) -> None:
    """One delivery per accepting channel; a second enqueue of the same key does nothing."""
    add_product(store, "pump")
    add_product(store, "monitor")
    notes = store.notifications
    notes.add_channel(webhook("all", HOOK), actor="alice", at=T0)
    notes.add_channel(
        webhook("critical", HOOK, min_severity=SeverityRating.CRITICAL), actor="alice", at=T0
    )
    notes.add_channel(email("monitor-team", "m@example.org", product="monitor"), actor="a", at=T0)
    notes.add_channel(
        email("kev", "k@example.org", kinds=frozenset({NotificationKind.KEV_ADDITION})),
        actor="alice",
        at=T0,
    )
    notes.add_channel(webhook("off", HOOK, enabled=False), actor="alice", at=T0)
    batch = [
        notification("n1"),
        notification("n2", product_slug="monitor", severity=SeverityRating.CRITICAL),
        notification("n3", kind=NotificationKind.KEV_ADDITION, severity=None),
        notification("n1", severity=SeverityRating.CRITICAL),  # repeated key: first wins
    ]
    assert notes.enqueue(batch) == 3
    assert notes.enqueue(batch) == 0
    assert notes.enqueue([notification("n2"), notification("n4")]) == 1
    assert _deliveries(store) == [
        ("n1", "all", "pending"),
        ("n2", "all", "pending"),
        ("n2", "critical", "pending"),
        ("n2", "monitor-team", "pending"),
        ("n3", "all", "pending"),
        ("n3", "critical", "pending"),
        ("n3", "kev", "pending"),
        ("n4", "all", "pending"),
    ]
    assert store.jobs.counts()[JobState.QUEUED] == 1  # one deliver job, however many enqueues
    assert notes.delivery_counts() == {
        DeliveryState.PENDING: 8,
        DeliveryState.DELIVERED: 0,
        DeliveryState.DEAD: 0,
    }


def test_enqueue_commits_with_the_callers_transaction(store: SqlStore) -> None:
    """Inside another write, the outbox rows vanish when that transaction rolls back."""
    store.notifications.add_channel(webhook("all", HOOK), actor="alice", at=T0)

    class Boom(Exception):
        pass

    def rolled_back() -> None:
        with store.database.write("a use case") as conn:
            assert enqueue_notifications(conn, [notification("rolled-back")]) == 1
            raise Boom

    with pytest.raises(Boom):
        rolled_back()
    with store.database.write("a use case") as conn:
        assert enqueue_notifications(conn, [notification("kept")]) == 1
        assert enqueue_notifications(conn, [notification("kept")]) == 0
    assert [key for key, _c, _s in _deliveries(store)] == ["kept"]


def test_enqueue_without_channels_stores_the_notification_only(store: SqlStore) -> None:
    """Without an accepting channel no delivery and no job is created."""
    assert store.notifications.enqueue([notification("lonely")]) == 1
    assert store.notifications.enqueue([]) == 0
    assert _deliveries(store) == []
    assert store.jobs.counts()[JobState.QUEUED] == 0
    assert store.notifications.next_due_at() is None


@st.composite
def _batches(draw: st.DrawFn) -> list[list[str]]:
    keys = draw(st.lists(st.sampled_from("abcdefgh"), min_size=0, max_size=12))
    cuts = sorted(draw(st.lists(st.integers(0, len(keys)), max_size=4)))
    bounds = [0, *cuts, len(keys)]
    return [keys[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=_batches())
def test_enqueue_is_idempotent_however_keys_are_batched(
    store: SqlStore, batches: list[list[str]]
) -> None:
    """Whatever batches and repetitions: one row per key, one delivery per key and channel."""
    if not store.notifications.channels():
        store.notifications.add_channel(webhook("all", HOOK), actor="alice", at=T0)
        store.notifications.add_channel(email("mail", "a@example.org"), actor="alice", at=T0)
    prefix = uuid.uuid4().hex[:8]
    total = sum(
        store.notifications.enqueue([notification(f"{prefix}{k}") for k in b]) for b in batches
    )
    distinct = {k for b in batches for k in b}
    assert total == len(distinct)
    mine = [row for row in _deliveries(store) if row[0].startswith(prefix)]
    assert sorted(mine) == sorted(
        (f"{prefix}{k}", name, "pending") for k in distinct for name in ("all", "mail")
    )


def test_channel_changes_are_audited_without_the_secret(store: SqlStore) -> None:
    """add/disable/enable append audit events in the same transaction; no secret in them."""
    add_product(store, "pump")
    notes = store.notifications
    added = notes.add_channel(webhook("hook", HOOK, product="pump"), actor="alice", at=T0)
    assert notes.channel("hook").secret == SECRET
    assert (
        notes.set_channel_enabled("hook", False, actor="bob", at=T0, reason="noisy").enabled
        is False
    )
    assert notes.set_channel_enabled("hook", False, actor="bob", at=T0).enabled is False  # no-op
    assert notes.set_channel_enabled("hook", True, actor="bob", at=T0).enabled is True
    events = list(store.audit.events())
    assert [e.action for e in events] == [
        "notify.channel_add",
        "notify.channel_disable",
        "notify.channel_enable",
    ]
    assert events[0].after == added.describe()
    assert events[1].reason == "noisy"
    assert events[1].before is not None
    assert events[1].before["enabled"] is True
    for event in events:
        assert SECRET not in orjson.dumps([event.before, event.after, event.reason]).decode()
    listed = notes.channels()
    assert [(c.name, c.product, c.enabled) for c in listed] == [("hook", "pump", True)]


def test_channel_errors(store: SqlStore) -> None:
    """Duplicate names conflict; unknown channels and products are not found."""
    store.notifications.add_channel(email("mail", "a@example.org"), actor="alice", at=T0)
    with pytest.raises(ConflictError):
        store.notifications.add_channel(email("mail", "b@example.org"), actor="alice", at=T0)
    with pytest.raises(NotFoundError, match="nope"):
        store.notifications.channel("nope")
    with pytest.raises(NotFoundError, match="ghost"):
        store.notifications.add_channel(
            email("ghost-team", "g@example.org", product="ghost"), actor="alice", at=T0
        )
    with pytest.raises(NotFoundError):
        store.notifications.set_channel_enabled("nope", False, actor="alice", at=T0)
    assert len(list(store.audit.events())) == 1


def test_claims_are_exclusive_leased_and_recorded(store: SqlStore) -> None:
    """A claimed delivery is not claimed again until its lease expires; outcomes stick."""
    notes = store.notifications
    notes.add_channel(webhook("hook", HOOK), actor="alice", at=T0)
    notes.enqueue([notification("a"), notification("b", at=T0 + timedelta(minutes=1))])
    assert notes.claim_due_deliveries("w1", 10, T0 - timedelta(seconds=1)) == []
    first = notes.claim_due_deliveries("w1", 10, T0)
    assert [d.notification.dedupe_key for d in first] == ["a"]
    assert first[0].channel.secret == SECRET
    assert first[0].attempts == 0
    assert first[0].notification == notification("a")
    later = T0 + timedelta(minutes=2)
    assert [d.notification.dedupe_key for d in notes.claim_due_deliveries("w2", 10, later)] == ["b"]
    assert notes.claim_due_deliveries("w2", 10, later) == []
    assert notes.claim_due_deliveries("w2", 0, later) == []
    expired = T0 + timedelta(minutes=6)
    again = notes.claim_due_deliveries("w3", 10, expired)
    assert [d.notification.dedupe_key for d in again] == ["a"]  # w1's lease ran out
    assert notes.mark_delivered(first[0].pk, "w1", expired) is False  # w1 lost it
    assert notes.mark_failed(again[0].pk, "w3", "HTTP 500", next_attempt_at=expired) is True
    retry = notes.claim_due_deliveries("w4", 10, expired + timedelta(minutes=6))
    # due first comes first: b (due T0+1m, w2's lease expired) before a (retry at T0+6m)
    assert [(d.notification.dedupe_key, d.attempts) for d in retry] == [("b", 0), ("a", 1)]
    assert notes.mark_delivered(retry[1].pk, "w4", expired) is True
    assert notes.mark_failed(retry[0].pk, "w4", "HTTP 410", next_attempt_at=None) is True
    assert notes.claim_due_deliveries("w5", 10, expired + timedelta(days=1)) == []
    assert notes.delivery_counts()[DeliveryState.DELIVERED] == 1
    assert notes.delivery_counts()[DeliveryState.DEAD] == 1
    assert notes.next_due_at() is None


def test_disabled_channels_keep_their_deliveries_waiting(store: SqlStore) -> None:
    """Deliveries of a disabled channel are not claimed until it is enabled again."""
    notes = store.notifications
    notes.add_channel(webhook("hook", HOOK), actor="alice", at=T0)
    notes.enqueue([notification("a")])
    notes.set_channel_enabled("hook", False, actor="alice", at=T0)
    assert notes.claim_due_deliveries("w", 10, T0) == []
    assert notes.next_due_at() is None
    notes.set_channel_enabled("hook", True, actor="alice", at=T0)
    assert notes.next_due_at() == T0
    assert len(notes.claim_due_deliveries("w", 10, T0)) == 1
