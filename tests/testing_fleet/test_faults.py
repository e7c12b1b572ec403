"""Each injector changes exactly what it claims, and names the record a backend must name."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from medwarden.errors import SignatureError, UsageError
from medwarden.telemetry.envelope import SignedRecord, parse_envelope, verify_envelope
from medwarden.telemetry.records import RecordType
from medwarden.testing.fleet.backend import compare_truth
from medwarden.testing.fleet.faults import (
    FAULT_KINDS,
    ClockJump,
    DecisionMismatch,
    DeviceDoseTamper,
    DeviceSensorTamper,
    DropRecords,
    ForgedSignature,
    GroundTruth,
    ReorderRecords,
    Replay,
    SensorCompressionLow,
    SensorDropout,
    TransitDoseTamper,
    TransitSensorTamper,
    fault_from_spec,
)

from .conftest import FaultRun, assert_valid_chain, run, run_with_backend, standin_device


def _only(run_: FaultRun, kind: str) -> GroundTruth:
    primary = [t for t in run_.device.truth if t.primary]
    assert len(primary) == 1, primary
    assert primary[0].fault == kind
    return primary[0]


def _by_seq(records: list[SignedRecord]) -> dict[tuple[str, int], SignedRecord]:
    return {(s.record.boot_id, s.record.seq): s for s in records}


def _security_matches(run_: FaultRun) -> None:
    score = compare_truth(run_.device.truth, run_.backend.events)
    assert score["missed"] == []
    assert score["unexpected"] == []


def _sent_envelopes(run_: FaultRun) -> list[SignedRecord]:
    return [parse_envelope(p) for p in run_.link.payloads]


@pytest.mark.parametrize("fault", [TransitDoseTamper(10), TransitSensorTamper(10)])
def test_transit_tamper_alters_bytes_after_signing(fault: TransitDoseTamper) -> None:
    r = run_with_backend([fault], 16)
    truth = _only(r, fault.kind)
    assert truth.expected == "bad_signature"
    assert truth.category == "security"
    bad = [s for s in _sent_envelopes(r) if s.hash == truth.record_hash]
    assert len(bad) == 1
    with pytest.raises(SignatureError):
        verify_envelope(r.device.public_key, bad[0])
    genuine = _by_seq(r.made)[(truth.boot_id, truth.seq)]
    verify_envelope(r.device.public_key, genuine)
    changed = {
        k for k in genuine.record.body if genuine.record.body[k] != bad[0].record.body.get(k)
    }
    assert changed <= {"rate_u_h", "units", "glucose_mg_dl"}
    assert len(changed) == 1
    assert bad[0].record.device_time == genuine.record.device_time
    # the device retries its genuine bytes, which the backend then stores
    assert genuine.hash in {s.hash for s in r.backend.records(r.device.device_id)}
    _security_matches(r)


def test_forged_signature_is_signed_with_another_key() -> None:
    fault = ForgedSignature(10, units=6.0)
    r = run_with_backend([fault], 16)
    truth = _only(r, "forged_signature")
    forged = next(s for s in _sent_envelopes(r) if s.hash == truth.record_hash)
    with pytest.raises(SignatureError):
        verify_envelope(r.device.public_key, forged)
    verify_envelope(fault.key.public_key(), forged)  # the attacker's own key
    assert forged.record.body["kind"] == "bolus"
    assert forged.record.body["units"] == 6.0
    assert truth.expected == "bad_signature"
    _security_matches(r)


def test_on_device_dose_tamper_verifies_but_differs_from_its_decision() -> None:
    r = run_with_backend([DeviceDoseTamper(8)], 14)
    truth = _only(r, "device_dose_tamper")
    assert (truth.expected, truth.category) == ("dose_mismatch", "warning")
    records = _by_seq(r.made)
    command = records[(truth.boot_id, truth.seq)]
    verify_envelope(r.device.public_key, command)
    assert command.hash == truth.record_hash
    body = command.record.body
    decision = records[(truth.boot_id, body["decision_seq"])].record.body["output"]
    if body["kind"] == "temp_basal":
        assert body["rate_u_h"] != decision["rate_u_h"]
    else:
        assert body["units"] != decision["smb_u"]
    confirmation = next(
        s.record.body
        for s in r.made
        if s.record.record_type is RecordType.ACTUATOR_CONFIRMATION
        and s.record.body["command_id"] == body["command_id"]
    )
    assert confirmation.get("rate_u_h") == pytest.approx(body.get("rate_u_h", 0), abs=0.01) or (
        confirmation["delivered_u"] == pytest.approx(body.get("units"), abs=0.05)
    )
    assert_valid_chain(r.backend.records(r.device.device_id), r.device.public_key)
    assert r.backend.events == []


def test_on_device_sensor_tamper_logs_another_value_than_the_decision_used() -> None:
    r = run_with_backend([DeviceSensorTamper(8)], 12)
    truth = _only(r, "device_sensor_tamper")
    assert (truth.expected, truth.category) == ("sensor_mismatch", "warning")
    records = r.made
    index = next(i for i, s in enumerate(records) if s.hash == truth.record_hash)
    reading = records[index]
    verify_envelope(r.device.public_key, reading)
    decision = next(
        s for s in records[index:] if s.record.record_type is RecordType.CONTROLLER_DECISION
    )
    used = decision.record.body["inputs"]["glucose_status"]["glucose"]
    assert reading.record.body["glucose_mg_dl"] != used
    assert reading.record.body["glucose_mg_dl"] == round(used + 80)
    assert r.backend.events == []


def test_decision_mismatch_logs_an_output_the_algorithm_does_not_compute() -> None:
    r = run_with_backend([DecisionMismatch(8)], 12)
    truth = _only(r, "decision_mismatch")
    assert (truth.expected, truth.category) == ("decision_mismatch", "warning")
    decision = _by_seq(r.made)[(truth.boot_id, truth.seq)]
    verify_envelope(r.device.public_key, decision)
    body = decision.record.body
    recomputed = r.device.controller.decide(body["inputs"])
    assert recomputed["rate_u_h"] != body["output"]["rate_u_h"]
    command = next(
        s.record.body
        for s in r.made
        if s.record.record_type is RecordType.ACTUATOR_COMMAND
        and s.record.body.get("decision_seq") == truth.seq
    )
    assert command["rate_u_h"] == body["output"]["rate_u_h"]  # the device executes its log
    assert r.backend.events == []


def test_replay_resends_byte_identical_envelope_answered_as_stale_duplicate() -> None:
    r = run_with_backend([Replay(20, capture_cycle=5)], 24)
    truth = _only(r, "replay")
    assert (truth.expected, truth.category) == ("stale_duplicate", "security")
    payloads = r.link.payloads
    replayed = [p for p in payloads if parse_envelope(p).hash == truth.record_hash]
    assert len(replayed) == 2
    assert replayed[0] == replayed[1]
    first = payloads.index(replayed[0])
    assert payloads.index(replayed[1], first + 1) > first + 40  # re-sent much later
    assert [e.event.kind for e in r.backend.events] == ["stale_duplicate"]
    assert len(r.backend.records(r.device.device_id)) == len(r.made)


def test_dropped_records_leave_a_gap_a_backend_names() -> None:
    r = run_with_backend([DropRecords(10, count=2)], 14)
    truth = _only(r, "dropped_records")
    assert (truth.expected, truth.missing) == ("gap", (truth.seq - 2, truth.seq - 1))
    sent = {parse_envelope(p).record.seq for p in r.link.payloads}
    assert truth.seq - 1 not in sent
    assert truth.seq - 2 not in sent
    assert r.device.stats.abandoned == 2
    [event] = r.backend.events
    assert event.event.missing == truth.missing
    _security_matches(r)


def test_reordered_records_arrive_swapped() -> None:
    r = run_with_backend([ReorderRecords(10)], 14)
    gap, late = sorted(r.device.truth, key=lambda t: t.expected)
    assert (gap.expected, late.expected) == ("gap", "reorder")
    assert gap.seq == late.seq + 1
    order = [parse_envelope(p).record.seq for p in r.link.payloads]
    assert order.index(gap.seq) < order.index(late.seq)
    _security_matches(r)


def test_clock_jump_moves_device_time_then_back() -> None:
    r = run_with_backend([ClockJump(10, offset=timedelta(hours=2), cycles=3)], 16)
    kinds = [t.expected for t in r.device.truth]
    assert kinds.count("time_backwards") == 1
    jumped = [t for t in r.device.truth if t.expected == "clock_outside_window"]
    assert jumped[0].primary
    assert not any(t.primary for t in jumped[1:])
    records = _by_seq(r.made)
    first = records[(jumped[0].boot_id, jumped[0].seq)].record
    before = records[(first.boot_id, first.seq - 1)].record
    assert first.device_time - before.device_time > timedelta(hours=2)
    _security_matches(r)


def test_compression_low_drops_readings_transiently() -> None:
    clean = standin_device(cycles=24)
    baseline = [clean.run_cycle(None).glucose_mg_dl for _ in range(24)]
    faulty = standin_device(cycles=24, faults=[SensorCompressionLow(10)])
    shown = [faulty.run_cycle(None).glucose_mg_dl for _ in range(24)]
    assert shown[:10] == baseline[:10]
    low, base, later, base_later = shown[12], baseline[12], shown[20], baseline[20]
    assert low is not None
    assert base is not None
    assert low < 0.75 * base
    assert later is not None
    assert base_later is not None
    assert abs(later - base_later) < 0.25 * base_later  # recovered
    [truth] = faulty.truth
    assert (truth.expected, truth.cycle) == ("sensor_compression_low", 10)


def test_dropout_leaves_no_reading_for_over_thirty_minutes() -> None:
    device = standin_device(cycles=24, faults=[SensorDropout(10, minutes=35)])
    reports = [device.run_cycle(None) for _ in range(24)]
    missing = [rep.cycle for rep in reports if rep.glucose_mg_dl is None]
    assert missing == list(range(10, 17))
    for rep in reports[10:17]:
        kinds = {s.record.record_type for s in rep.records}
        assert RecordType.SENSOR_READING not in kinds
        assert RecordType.CONTROLLER_DECISION not in kinds
    [truth] = device.truth
    assert (truth.expected, truth.cycle) == ("sensor_dropout", 17)
    first_after = next(
        s for s in reports[17].records if s.record.record_type is RecordType.SENSOR_READING
    )
    assert first_after.hash == truth.record_hash


def test_faults_compose_on_one_device() -> None:
    faults = [DeviceDoseTamper(6), TransitSensorTamper(9), ReorderRecords(12), Replay(15, 2)]
    r = run_with_backend(faults, 18)
    assert {t.fault for t in r.device.truth if t.primary} == {
        "device_dose_tamper",
        "transit_sensor_tamper",
        "reordered_records",
        "replay",
    }
    _security_matches(r)


def test_fault_specs_and_argument_checks() -> None:
    assert isinstance(fault_from_spec("replay@30"), Replay)
    assert fault_from_spec("sensor_dropout@7").cycle == 7
    assert set(FAULT_KINDS) >= {"transit_dose_tamper", "forged_signature", "clock_jump"}
    for bad in ("replay", "nope@3", "replay@x", "replay@"):
        with pytest.raises(UsageError):
            fault_from_spec(bad)
    with pytest.raises(UsageError):
        Replay(-1)
    with pytest.raises(UsageError):
        Replay(5, capture_cycle=5)
    with pytest.raises(UsageError):
        SensorDropout(3, minutes=5)
    with pytest.raises(UsageError):
        DropRecords(3, count=0)
    assert repr(Replay(4)) == "Replay(cycle=4)"


def test_ground_truth_serialises_to_json() -> None:
    r = run_with_backend([DropRecords(5)], 8)
    [truth] = r.device.truth
    data = orjson.loads(orjson.dumps(truth.to_json()))
    assert data["missing"] == list(truth.missing or ())
    assert data["record_hash"] == truth.record_hash
    assert data["device_id"] == r.device.device_id


def test_a_device_without_transport_keeps_its_outbox() -> None:
    device = standin_device(cycles=6, faults=[TransitDoseTamper(1)])
    made = run(device, 3)
    assert len(device.outbox) == len(made)
    assert device.truth == []  # transit faults need a transmission
