"""A simulated device's chain, records, determinism, retries and resume after restart."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import orjson
import pytest

from medwarden.errors import UsageError
from medwarden.telemetry.envelope import parse_envelope, verify_envelope
from medwarden.telemetry.records import RecordType
from medwarden.testing.fleet.device import CYCLE, DEFAULT_START, boot_id_for
from medwarden.testing.fleet.transports import InProcessTransport

from .conftest import Recorder, assert_valid_chain, run, standin_device, tick, with_backend


def test_four_hours_make_a_valid_chain_of_every_record_type() -> None:
    device = standin_device(cycles=48)
    records = run(device, 48)
    assert_valid_chain(records, device.public_key)
    kinds = Counter(r.record.record_type for r in records)
    assert kinds[RecordType.SENSOR_READING] == 48
    assert kinds[RecordType.CONTROLLER_DECISION] >= 40
    assert kinds[RecordType.ACTUATOR_COMMAND] == kinds[RecordType.ACTUATOR_CONFIRMATION]
    assert kinds[RecordType.DEVICE_EVENT] >= 1  # the boot record
    first = records[0].record
    assert first.record_type is RecordType.DEVICE_EVENT
    assert first.body["event"] == "boot"
    assert first.is_genesis
    assert first.seq == 0
    assert [r.record.seq for r in records] == list(range(len(records)))


def test_records_carry_consistent_bodies_and_simulated_times() -> None:
    device = standin_device(cycles=36)
    records = run(device, 36)
    readings = {}
    decisions = {}
    for signed in records:
        rec = signed.record
        cycle_start = DEFAULT_START + ((rec.device_time - DEFAULT_START) // CYCLE) * CYCLE
        assert timedelta(0) <= rec.device_time - cycle_start < timedelta(minutes=1)
        if rec.record_type is RecordType.SENSOR_READING:
            readings[cycle_start] = rec.body["glucose_mg_dl"]
            assert 39 <= rec.body["glucose_mg_dl"] <= 400
        if rec.record_type is RecordType.CONTROLLER_DECISION:
            decisions[rec.seq] = rec
            inputs = rec.body["inputs"]
            assert set(inputs) == {
                "glucose_status", "currenttemp", "iob_data", "profile", "autosens",
                "meal_data", "micro_bolus_allowed", "reservoir_data", "current_time",
            }  # fmt: skip
            assert inputs["current_time"] == cycle_start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            assert inputs["glucose_status"]["glucose"] == readings[cycle_start]
            assert rec.body["output"] == {
                k: v for k, v in device.controller.decide(inputs).items() if k != "raw"
            }
        if rec.record_type is RecordType.ACTUATOR_COMMAND and "decision_seq" in rec.body:
            decision = decisions[rec.body["decision_seq"]]
            assert rec.body["rate_u_h"] == decision.body["output"]["rate_u_h"]
    assert len(
        {
            r.record.body["command_id"]
            for r in records
            if r.record.record_type is RecordType.ACTUATOR_COMMAND
        }
    ) == sum(1 for r in records if r.record.record_type is RecordType.ACTUATOR_COMMAND)


def test_glucose_stays_physiologic_for_a_day_with_meals() -> None:
    device = standin_device(cycles=288, index=12)  # adult#003
    reports = [device.run_cycle(None) for _ in range(288)]
    cgm = [r.glucose_mg_dl for r in reports if r.glucose_mg_dl is not None]
    assert len(cgm) == 288
    assert min(cgm) >= 40
    assert max(cgm) <= 350
    meals = [
        r
        for rep in reports
        for r in rep.records
        if r.record.record_type is RecordType.USER_OVERRIDE
    ]
    assert 2 <= len(meals) <= 3
    assert all(m.record.body["units"] > 0 and m.record.body["carbs_g"] > 0 for m in meals)


def test_same_seed_gives_identical_bytes_and_another_seed_does_not() -> None:
    def wires(seed: int) -> list[bytes]:
        device = standin_device(seed=seed, cycles=24)
        return [s.to_wire() for s in run(device, 24)]

    first, second, other = wires(11), wires(11), wires(12)
    assert first == second
    assert first != other
    assert boot_id_for(11, "d", 0) == boot_id_for(11, "d", 0) != boot_id_for(11, "d", 1)


def test_device_retries_the_same_bytes_until_acknowledged() -> None:
    device = standin_device(cycles=12)
    backend, clock = with_backend(device)
    link = Recorder(InProcessTransport(backend))
    for cycle in range(12):
        tick(device, clock)
        link.down = cycle in (3, 4)
        device.run_cycle(link)
    sent = Counter(link.payloads)
    retried = [p for p, n in sent.items() if n > 1]
    assert retried, "records of the cycles without acknowledgement are sent again"
    # cycle 3's records go out at cycles 3, 4 and 5; cycle 4's at 4 and 5
    assert sorted(set(sent.values())) == [1, 2, 3]
    stored = backend.records(device.device_id)
    assert len(stored) == len({(s.record.boot_id, s.record.seq) for s in stored})
    assert not device.outbox
    assert_valid_chain(stored, device.public_key)
    assert device.stats.retried > 0
    assert device.stats.abandoned == 0


def test_device_abandons_a_record_after_max_attempts() -> None:
    device = standin_device(cycles=8)
    device.max_attempts = 2
    link = Recorder()
    link.down = True
    run(device, 3, link)
    assert device.stats.abandoned > 0
    assert all(p.attempts < 2 for p in device.outbox)


def test_resume_after_restart_sends_nothing_twice_and_links_the_new_boot() -> None:
    device = standin_device(cycles=30)
    backend, clock = with_backend(device)
    link = Recorder(InProcessTransport(backend))
    before = []
    for cycle in range(10):
        tick(device, clock)
        link.down = cycle >= 8  # the last two cycles' acknowledgements are lost
        before.extend(device.run_cycle(link).records)
    acked_before = device.last_acknowledged
    state = orjson.loads(orjson.dumps(device.state()))  # what the device persisted
    assert state["outbox"], "unacknowledged records survive the restart"

    restarted = standin_device(cycles=30)
    restarted.patient = device.patient  # the same person: only the device restarted
    restarted.resume(state)
    assert restarted.boot_id != device.boot_id
    assert restarted.last_acknowledged == acked_before
    link.down = False
    after = []
    for _ in range(10):
        tick(restarted, clock)
        after.extend(restarted.run_cycle(link).records)

    boot = after[0].record
    assert boot.record_type is RecordType.DEVICE_EVENT
    assert boot.body["event"] == "boot"
    assert boot.seq == 0
    assert boot.prev_hash == before[-1].hash
    assert not {s.hash for s in before} & {s.hash for s in after}, "nothing is re-made"
    acked_payloads = Counter(link.payloads)
    already = [s.to_wire() for s in before if s.record.seq <= acked_before[1]]
    assert all(acked_payloads[w] == 1 for w in already), "acknowledged records are not re-sent"
    stored = backend.records(device.device_id)
    assert [s.hash for s in stored] == [s.hash for s in before + after]
    assert_valid_chain(stored, device.public_key)
    assert [e.event.kind for e in backend.events] == ["new_boot"]
    truth = [t for t in restarted.truth if t.fault == "restart"]
    assert len(truth) == 1
    assert truth[0].seq == 0
    assert truth[0].record_hash == after[0].hash


def test_resume_refuses_another_devices_state() -> None:
    device = standin_device(cycles=4)
    run(device, 1)
    other = standin_device(index=1, cycles=4)
    with pytest.raises(UsageError):
        other.resume(device.state())


def test_outbox_entries_are_exact_wire_bytes() -> None:
    device = standin_device(cycles=4)
    run(device, 2)
    for pending in device.outbox:
        parsed = parse_envelope(pending.wire)
        verify_envelope(device.public_key, parsed)
        assert parsed.to_wire() == pending.wire


def test_transmissions_respect_the_record_and_byte_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    from medwarden.testing.fleet import device as device_module

    sizes: list[tuple[int, int]] = []

    class Counting(Recorder):
        def send(self, device_id: str, envelopes: Any) -> list[Any]:
            sizes.append((len(envelopes), sum(len(e) + 1 for e in envelopes)))
            return super().send(device_id, envelopes)

    monkeypatch.setattr(device_module, "MAX_BATCH", 6)
    device = standin_device(cycles=12)
    link = Counting()
    link.down = True
    run(device, 2, link)
    link.down = False
    run(device, 10, link)
    assert not device.outbox
    assert max(n for n, _ in sizes) == 6

    monkeypatch.setattr(device_module, "MAX_BATCH_BYTES", 1)
    sizes.clear()
    run(device, 1, link)
    assert sizes == [(1, sizes[0][1])]  # one envelope even when it alone is over the cap
    assert len(device.outbox) >= 2


def test_a_controller_error_is_logged_as_an_alarm_and_no_decision_is_made() -> None:
    from medwarden.errors import InputError

    device = standin_device(cycles=6)
    calls = {"n": 0}
    decide = device.controller.decide

    def flaky(inputs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise InputError("oref0 determine-basal refused the inputs: test")
        return decide(inputs)

    device.controller.decide = flaky  # type: ignore[method-assign]
    reports = [device.run_cycle(None) for _ in range(5)]
    third = {s.record.record_type: s.record.body for s in reports[2].records}
    assert RecordType.CONTROLLER_DECISION not in third
    assert third[RecordType.ALARM]["code"] == "controller_error"
    assert device.stats.controller_errors == 1
    assert device.stats.decisions == 4
