"""Early warnings on both backends: checks run over ingested chains, stored once, triaged."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from medwarden.core.clock import FixedClock
from medwarden.errors import ConflictError, NotFoundError, StoreError, UsageError
from medwarden.jobs.handlers import builtin_handlers
from medwarden.jobs.worker import run_worker
from medwarden.notify.model import Channel, ChannelKind, NotificationKind
from medwarden.services.jobs import JobState, NewJob
from medwarden.services.telemetry import mqtt_port
from medwarden.services.telemetry_checks import (
    CHECKS_JOB,
    FLEET_JOB,
    TIMER_JOB,
    StoredWarning,
    WarningQuery,
    WarningState,
    acknowledge_warning,
    after_ingest,
    run_device_checks,
    run_fleet_checks,
    run_timer,
)
from medwarden.store import SqlStore
from medwarden.store import warning_repository as repo
from medwarden.store.schema_ops import notification, notification_delivery
from medwarden.store.schema_telemetry import device_check_run
from medwarden.telemetry.checks import Severity
from medwarden.telemetry.checks.registry import closed_loop_registry
from medwarden.telemetry.controllers.registry import ControllerRegistry
from medwarden.telemetry.envelope import record_hash
from medwarden.telemetry.records import DeviceRecord, RecordType
from tests.store.warning_chain import PROP, SIGNER, Chain, at, decided, register

CONTROLLERS = ControllerRegistry(PROP)


def check(store: SqlStore, minute: float, device_id: str = "pump-1") -> list[StoredWarning]:
    return run_device_checks(
        store.warnings, device_id, controllers=CONTROLLERS, clock=FixedClock(at(minute))
    )


def ref(record: DeviceRecord) -> dict[str, Any]:
    return {"boot_id": record.boot_id, "seq": record.seq, "record_hash": record_hash(record)}


def tampered(store: SqlStore) -> dict[str, DeviceRecord]:
    """Ingest a loop with a tampered input, a wrong output and a faithful tail."""
    chain = Chain(register(store))
    chain.cycle(0, 150, "c0")
    chain.send(store, 2)
    reading = chain.sensor(5, 150)
    fed = chain.decision(5.5, 250)  # the device logged 150 and fed 250
    rate = decided(250)["rate_u_h"]
    chain.temp(6, fed, rate, "c1")
    chain.confirm(6.5, "c1", rate)
    chain.send(store, 7)
    chain.cycle(10, 140, "c2")
    wrong = chain.decision(15.5, 140, {"rate_u_h": 0.0, "duration_min": 30, "smb_u": 0.0})
    chain.send(store, 17)
    chain.cycle(20, 130, "c3")
    chain.send(store, 22)
    return {"reading": reading, "fed": fed, "wrong": wrong}


EXPECTED = [
    ("decision_input_mismatch", Severity.HIGH, ("reading", "fed")),
    ("decision_mismatch", Severity.HIGH, ("wrong",)),
    ("command_decision_mismatch", Severity.HIGH, ("wrong",)),
]


def summary(
    found: list[StoredWarning], named: dict[str, DeviceRecord]
) -> list[tuple[str, Severity, tuple[str, ...]]]:
    names = {record_hash(r): n for n, r in named.items()}
    return sorted(
        (w.code, w.severity, tuple(names[e["record_hash"]] for e in w.evidence["records"]))
        for w in found
    )


def test_a_run_names_the_tampered_records(store: SqlStore) -> None:
    named = tampered(store)
    found = check(store, 22)
    assert summary(found, named) == sorted(EXPECTED)
    first = next(w for w in found if w.code == "decision_input_mismatch")
    assert first.evidence == {"records": [ref(named["reading"]), ref(named["fed"])]}
    assert (first.device_id, first.patient_ref, first.software_version) == (
        "pump-1",
        "P-001",
        "2.1.0",
    )
    assert first.check_id == "controller_recompute"
    assert first.state is WarningState.OPEN
    assert first.at == at(7)  # the receipt time of the deciding record
    assert store.warnings.get(first.id) == first


def test_runs_after_every_batch_store_the_same_warnings_once(store: SqlStore) -> None:
    chain = Chain(register(store))
    named: dict[str, DeviceRecord] = {}
    found = []
    chain.cycle(0, 150, "c0")
    chain.send(store, 2)
    found += check(store, 2)
    named["reading"] = chain.sensor(5, 150)
    named["fed"] = fed = chain.decision(5.5, 250)
    chain.temp(6, fed, decided(250)["rate_u_h"], "c1")
    chain.confirm(6.5, "c1", decided(250)["rate_u_h"])
    chain.send(store, 7)
    found += check(store, 7)
    chain.cycle(10, 140, "c2")
    named["wrong"] = chain.decision(15.5, 140, {"rate_u_h": 0.0, "duration_min": 30, "smb_u": 0})
    chain.send(store, 17)
    found += check(store, 17)
    assert summary(found, named) == sorted(EXPECTED[:2])  # the wrong decision's commands: later
    chain.cycle(20, 130, "c3")
    chain.send(store, 22)
    found += check(store, 22)
    assert summary(found, named) == sorted(EXPECTED)
    assert check(store, 22) == []
    assert len(store.warnings.list_warnings(WarningQuery())) == 3


def test_a_repeated_run_stores_nothing_new(store: SqlStore) -> None:
    tampered(store)
    assert len(check(store, 22)) == 3
    assert check(store, 23) == []
    with store.database.write("forgetting the run state") as conn:
        conn.execute(device_check_run.delete())
    assert check(store, 24) == []  # every warning again, each refused by its dedupe key
    assert len(store.warnings.list_warnings(WarningQuery())) == 3


def test_a_backlog_is_judged_in_chunks_with_the_same_result(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repo, "CHUNK", 3)
    named = tampered(store)
    assert summary(check(store, 22), named) == sorted(EXPECTED)


def test_a_run_that_lost_a_race_starts_over(store: SqlStore) -> None:
    tampered(store)
    registry = closed_loop_registry(CONTROLLERS)
    stale = store.warnings._snapshot("pump-1", registry, at(22))
    assert len(check(store, 22)) == 3
    assert store.warnings._commit(stale, []) is None


def test_signal_loss_falls_due_on_the_timer(store: SqlStore) -> None:
    chain = Chain(register(store))
    chain.cycle(0, 150, "c0")
    last = chain.sensor(5, 150)
    chain.send(store, 6)
    assert check(store, 6) == []
    report = run_timer(store.warnings, controllers=CONTROLLERS, clock=FixedClock(at(30)))
    assert report.new == {"pump-1": 1}
    (lost,) = store.warnings.list_warnings(WarningQuery(device_id="pump-1"))
    assert (lost.code, lost.evidence) == ("signal_loss", {"records": [ref(last)]})
    assert lost.at == at(6) + timedelta(minutes=15)
    assert run_timer(store.warnings, controllers=CONTROLLERS, clock=FixedClock(at(60))).new == {
        "pump-1": 0
    }


def test_every_new_warning_is_one_notification(store: SqlStore) -> None:
    channel = Channel(
        "psirt",
        ChannelKind.EMAIL,
        "psirt@example.org",
        kinds=frozenset({NotificationKind.EARLY_WARNING}),
    )
    store.notifications.add_channel(channel, actor="test", at=at(0))
    tampered(store)
    found = check(store, 22)
    check(store, 23)
    with store.database.read("reading the outbox") as conn:
        rows = conn.execute(select(notification)).mappings().all()
        deliveries = conn.execute(select(func.count()).select_from(notification_delivery)).scalar()
    assert sorted(r["dedupe_key"] for r in rows) == sorted(f"early_warning:{w.id}" for w in found)
    assert {r["kind"] for r in rows} == {"telemetry.early_warning"}
    assert {r["severity"] for r in rows} == {"high"}
    assert deliveries == 3
    assert "deliver_notifications" in {j.kind for j in store.jobs.jobs(state=JobState.QUEUED)}


def test_acknowledging_is_audited_and_happens_once(store: SqlStore) -> None:
    tampered(store)
    first, *_ = check(store, 22)
    clock = FixedClock(at(40))
    done = acknowledge_warning(
        store.warnings, first.id, actor="alice", note="called the patient", clock=clock
    )
    assert (done.state, done.acknowledged_by, done.acknowledged_at, done.note) == (
        WarningState.ACKNOWLEDGED,
        "alice",
        at(40),
        "called the patient",
    )
    event = list(store.audit.events())[-1]
    assert (event.action, event.subject_type, event.subject_id, event.actor) == (
        "telemetry.warning_acknowledge",
        "early_warning",
        str(first.id),
        "alice",
    )
    assert event.reason == "called the patient"
    with pytest.raises(ConflictError):
        acknowledge_warning(store.warnings, first.id, actor="bob", note="again", clock=clock)
    with pytest.raises(NotFoundError):
        acknowledge_warning(store.warnings, 999_999, actor="bob", note="x", clock=clock)
    with pytest.raises(UsageError):
        acknowledge_warning(store.warnings, first.id, actor="bob", note="  ", clock=clock)


def test_listing_filters_and_pages_newest_first(store: SqlStore) -> None:
    tampered(store)
    found = check(store, 22)
    other = Chain(register(store, "pump-2"), device_id="pump-2")
    other.sensor(0, 150)
    other.send(store, 1)
    run_timer(store.warnings, controllers=CONTROLLERS, clock=FixedClock(at(60)))
    everything = store.warnings.list_warnings(WarningQuery())
    assert [w.id for w in everything] == sorted((w.id for w in everything), reverse=True)
    lost = store.warnings.list_warnings(WarningQuery(device_id="pump-2"))
    assert [w.code for w in lost] == ["signal_loss"]
    acknowledge_warning(
        store.warnings, found[0].id, actor="a", note="seen", clock=FixedClock(at(61))
    )
    acked = store.warnings.list_warnings(WarningQuery(state=WarningState.ACKNOWLEDGED))
    assert [w.id for w in acked] == [found[0].id]
    highs = store.warnings.list_warnings(WarningQuery(severity=Severity.HIGH))
    assert {w.code for w in highs} >= {"decision_mismatch", "signal_loss"}
    assert store.warnings.list_warnings(WarningQuery(severity=Severity.CRITICAL)) == []
    late = store.warnings.list_warnings(WarningQuery(since=at(30)))
    assert {w.code for w in late} == {"signal_loss"}
    page = store.warnings.list_warnings(WarningQuery(), limit=2)
    rest = store.warnings.list_warnings(WarningQuery(), before=page[-1].id)
    assert [w.id for w in page + rest] == [w.id for w in everything]


def test_after_ingest_queues_one_check_job_per_device(store: SqlStore) -> None:
    register(store)
    clock = FixedClock(at(0))
    first = after_ingest(store.jobs, "pump-1", clock)
    assert first is not None
    assert after_ingest(store.jobs, "pump-1", clock) is None
    (job,) = store.jobs.jobs(state=JobState.QUEUED)
    assert (job.kind, job.args, job.dedupe_key) == (
        CHECKS_JOB,
        {"device_id": "pump-1"},
        f"{CHECKS_JOB}:pump-1",
    )


def test_the_worker_runs_the_queued_checks(store: SqlStore) -> None:
    named = tampered(store)
    clock = FixedClock(at(22))
    after_ingest(store.jobs, "pump-1", clock)
    with httpx.Client() as client:
        handlers = builtin_handlers(store, clock, client=client, controllers=CONTROLLERS)
        run_worker(store, handlers, clock, until_idle=True)
    found = store.warnings.list_warnings(WarningQuery(device_id="pump-1"))
    assert summary(found, named) == sorted(EXPECTED)
    assert store.jobs.get(1).state is JobState.DONE


def fleet_device(store: SqlStore, device_id: str, version: str, alarms_per_day: int) -> None:
    chain = Chain(register(store, device_id, version=version), device_id=device_id)
    for day in range(2):
        base = day * 24 * 60
        chain.sensor(base, 120)
        for n in range(alarms_per_day):
            chain.add(RecordType.ALARM, {"code": "occlusion", "severity": "high"}, base + 1 + n)
        chain.send(store, base + 1 + alarms_per_day)


def test_fleet_rates_are_stored_once_per_period(store: SqlStore) -> None:
    for n in range(3):
        fleet_device(store, f"new-{n}", "2.2.0", alarms_per_day=5)
    fleet_device(store, "old-0", "2.1.0", alarms_per_day=1)
    clock = FixedClock(at(5 * 24 * 60))
    (warning,) = run_fleet_checks(store.warnings, clock=clock)
    assert warning.device_id is None
    assert (warning.check_id, warning.code, warning.software_version) == (
        "fleet_rates",
        "alarm_rate_above_baseline",
        "2.2.0",
    )
    assert warning.evidence["device_ids"] == ["new-0", "new-1", "new-2"]
    assert (warning.evidence["events"], warning.evidence["device_days"]) == (30, 6)
    assert warning.evidence["period"] == "2026-02-27/2026-03-06"
    assert run_fleet_checks(store.warnings, clock=clock) == []
    assert store.warnings.list_warnings(WarningQuery(device_id="new-0")) == []


def test_the_timer_also_judges_records_no_job_checked(store: SqlStore) -> None:
    named = tampered(store)
    report = run_timer(store.warnings, controllers=CONTROLLERS, clock=FixedClock(at(22)))
    assert report.new == {"pump-1": 3}
    assert summary(report.warnings, named) == sorted(EXPECTED)


def test_the_periodic_jobs_run_the_timer_and_the_fleet(store: SqlStore) -> None:
    chain = Chain(register(store))
    chain.sensor(0, 150)
    chain.send(store, 1)
    clock = FixedClock(at(30))
    store.jobs.enqueue(NewJob(TIMER_JOB), at=clock.now())
    store.jobs.enqueue(NewJob(FLEET_JOB), at=clock.now())
    with httpx.Client() as client:
        handlers = builtin_handlers(store, clock, client=client, controllers=CONTROLLERS)
        run_worker(store, handlers, clock, until_idle=True)
    done = sorted(j.kind for j in store.jobs.jobs(state=JobState.DONE))
    assert done == sorted([CHECKS_JOB, TIMER_JOB, FLEET_JOB])  # ingest queued the first
    (lost,) = store.warnings.list_warnings(WarningQuery())
    assert lost.code == "signal_loss"


def test_ingest_queues_checks_in_its_transaction_when_a_batch_stored_something(
    store: SqlStore,
) -> None:
    chain = Chain(register(store))
    chain.cycle(0, 150, "c0")
    items = list(chain.pending)
    clock = FixedClock(at(2))
    port = mqtt_port(store.ledger, SIGNER, clock=clock)
    assert [r.status for r in port("pump-1", items)] == ["accepted"] * 4
    (job,) = store.jobs.jobs(state=JobState.QUEUED)
    assert job.kind == CHECKS_JOB
    with httpx.Client() as client:
        handlers = builtin_handlers(store, clock, client=client, controllers=CONTROLLERS)
        run_worker(store, handlers, clock, until_idle=True)
    assert [r.status for r in port("pump-1", items)] == ["duplicate"] * 4
    assert store.jobs.jobs(state=JobState.QUEUED) == []


class BrokenQueue:
    """A job queue whose database is gone."""

    def enqueue(self, job: NewJob, *, at: datetime, unless_running: bool = False) -> int | None:
        raise StoreError("the database is unreachable")


def test_a_failing_queue_never_fails_the_ingest_that_already_committed() -> None:
    assert after_ingest(BrokenQueue(), "pump-1", FixedClock(at(0))) is None
