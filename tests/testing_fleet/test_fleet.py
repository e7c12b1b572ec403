"""The fleet runner, the CLI functions, and the reference device with the real oref0."""

from __future__ import annotations

import functools
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from medwarden.errors import UsageError
from medwarden.telemetry.controllers.oref0 import ALGORITHM, INPUT_KEYS, VERSION
from medwarden.telemetry.envelope import parse_envelope, verify_envelope
from medwarden.telemetry.records import RecordType
from medwarden.testing.fleet.backend import MemoryBackend, compare_truth
from medwarden.testing.fleet.cli import export_devices, parse_fault_plan, simulate, write_truth
from medwarden.testing.fleet.device import CYCLE, DEFAULT_START, device_key
from medwarden.testing.fleet.faults import DecisionMismatch
from medwarden.testing.fleet.fleet import FleetConfig, SimClock, device_ids, run_fleet
from medwarden.testing.fleet.transports import InProcessTransport, JsonlFileTransport

from .conftest import assert_valid_chain

ALL_FAULTS = [
    "0:transit_dose_tamper@8",
    "1:device_dose_tamper@8",
    "2:transit_sensor_tamper@9",
    "3:device_sensor_tamper@9",
    "0:forged_signature@14",
    "1:replay@20",
    "2:dropped_records@12",
    "3:reordered_records@15",
    "sim-9-0000:clock_jump@22",
    "1:sensor_compression_low@25",
    "2:sensor_dropout@18",
    "3:decision_mismatch@5",
]


def _memory(config: FleetConfig) -> tuple[MemoryBackend, SimClock]:
    clock = SimClock(config.start)
    backend = MemoryBackend(clock)
    for d in device_ids(config.seed, config.devices):
        backend.register(d, device_key(config.seed, d).public_key(), config.start)
    return backend, clock


def test_fleet_ground_truth_matches_the_backends_security_events() -> None:
    config = FleetConfig(devices=4, cycles=36, seed=9, controller="standin", restarts={2: [30]})
    backend, clock = _memory(config)
    result = run_fleet(
        config, InProcessTransport(backend), faults=parse_fault_plan(ALL_FAULTS), clock=clock
    )
    score = compare_truth(result.truth, backend.events)
    assert score["missed"] == []
    assert score["unexpected"] == []
    assert score["matched"] >= 15
    fired = {t.fault for t in result.truth if t.primary}
    assert fired == {spec.split(":")[1].split("@")[0] for spec in ALL_FAULTS} | {"restart"}
    warnings = {t.expected for t in result.truth if t.category == "warning"}
    assert warnings == {
        "dose_mismatch",
        "sensor_mismatch",
        "decision_mismatch",
        "sensor_compression_low",
        "sensor_dropout",
    }
    for device_id in result.device_ids:
        stored = backend.records(device_id)
        assert len(stored) == len({(s.record.boot_id, s.record.seq) for s in stored})
    summary = result.summary()
    assert summary["devices"] == 4
    assert summary["totals"]["cycles"] == 4 * 36
    assert summary["totals"]["boots"] == 5
    assert 39 <= summary["cgm_min_mg_dl"] <= summary["cgm_max_mg_dl"] <= 400
    assert result.device_cycles == 144
    assert result.cycles_per_s > 0
    assert set(result.patients.values()) == {
        "adolescent#001",
        "adolescent#002",
        "adolescent#003",
        "adolescent#004",
    }


def _jsonl(directory: Path, worker: int) -> JsonlFileTransport:
    return JsonlFileTransport(directory / f"worker-{worker}.jsonl")


def test_two_workers_make_the_same_envelopes_and_truth_as_one(tmp_path: Path) -> None:
    plan = parse_fault_plan(["1:forged_signature@5", "2:device_dose_tamper@4"])
    one = tmp_path / "one"
    two = tmp_path / "two"
    one.mkdir()
    two.mkdir()
    base = {"devices": 3, "cycles": 10, "seed": 4, "controller": "standin"}
    sink = _jsonl(one, 0)
    single_result = run_fleet(FleetConfig(**base), sink, faults=plan)  # type: ignore[arg-type]
    sink.close()
    double = run_fleet(
        FleetConfig(**base, workers=2),  # type: ignore[arg-type]
        transport_factory=functools.partial(_jsonl, two),
        faults=parse_fault_plan(["1:forged_signature@5", "2:device_dose_tamper@4"]),
    )
    lines_one = Counter((one / "worker-0.jsonl").read_bytes().splitlines())
    lines_two = Counter(
        line for path in sorted(two.glob("*.jsonl")) for line in path.read_bytes().splitlines()
    )
    assert lines_one == lines_two
    assert [t.to_json() for t in single_result.truth] == [t.to_json() for t in double.truth]
    assert double.device_ids == device_ids(4, 3)
    assert double.totals() == single_result.totals()


def test_fleet_config_and_runner_refuse_bad_arguments() -> None:
    with pytest.raises(UsageError):
        FleetConfig(devices=0)
    with pytest.raises(UsageError):
        FleetConfig(controller="pid")
    with pytest.raises(UsageError):
        FleetConfig(workers=0)
    with pytest.raises(UsageError):
        FleetConfig(start=datetime(2026, 1, 1))  # noqa: DTZ001 - naive on purpose
    with pytest.raises(UsageError):
        run_fleet(FleetConfig(workers=2, controller="standin"), clock=SimClock())


def test_simulate_with_the_memory_backend_writes_records_and_truth(tmp_path: Path) -> None:
    out = tmp_path / "records.jsonl"
    truth = tmp_path / "truth.jsonl"
    summary = simulate(
        devices=2,
        hours=1.5,
        seed=21,
        controller="standin",
        transport="memory",
        output=out,
        truth_output=truth,
        faults=["0:transit_dose_tamper@4", "1:replay@12"],
        restarts=["1@10"],
    )
    assert summary["cycles"] == 18
    assert summary["backend"]["missed"] == []
    assert summary["backend"]["unexpected"] == []
    entries = [orjson.loads(line) for line in truth.read_bytes().splitlines()]
    assert {e["fault"] for e in entries} >= {"transit_dose_tamper", "replay", "restart"}
    keys = {d["device_id"]: d for d in export_devices(21, 2)}
    for line in out.read_bytes().splitlines()[:50]:
        signed = parse_envelope(line)
        assert signed.record.device_id in keys
    assert keys["sim-21-0000"]["patient"] == "adolescent#001"
    assert len(keys["sim-21-0000"]["key_id"]) == 16


def test_simulate_jsonl_only_and_argument_errors(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    summary = simulate(
        devices=1, hours=0.5, controller="standin", transport="jsonl", output=out,
        start=datetime(2026, 3, 1, tzinfo=UTC),
    )  # fmt: skip
    assert summary["start"] == "2026-03-01T00:00:00+00:00"
    records = [parse_envelope(line) for line in out.read_bytes().splitlines()]
    key = device_key(1, "sim-1-0000").public_key()
    for signed in records:
        verify_envelope(key, signed)
    assert_valid_chain(records, key)
    assert simulate(devices=1, hours=0.1, controller="standin", transport="none")["cycles"] == 1
    bad: list[dict[str, Any]] = [
        {"transport": "pigeon"},
        {"transport": "jsonl"},
        {"transport": "https"},
        {"transport": "https", "url": "https://127.0.0.1:9"},
        {"transport": "mqtt"},
        {"transport": "none", "restarts": ["x@1"]},
        {"transport": "none", "faults": ["replay@3"]},
        {"transport": "none", "faults": [":replay@3"]},
    ]
    for kwargs in bad:
        with pytest.raises(UsageError):
            simulate(devices=1, hours=0.1, controller="standin", **kwargs)
    tokens = tmp_path / "tokens.json"
    tokens.write_text("[1, 2]")
    with pytest.raises(UsageError):
        simulate(transport="https", url="https://127.0.0.1:9", tokens_file=tokens,
                 controller="standin", hours=0.1, devices=1)  # fmt: skip
    write_truth(tmp_path / "empty.jsonl", [])
    assert (tmp_path / "empty.jsonl").read_bytes() == b""


def test_simulate_over_https_refuses_to_start_without_a_reachable_server(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_bytes(orjson.dumps({"sim-1-0000": "t"}))
    summary = simulate(
        devices=1, hours=0.25, controller="standin", transport="https",
        url="https://127.0.0.1:9", tokens_file=tokens,
    )  # fmt: skip
    assert summary["totals"]["acknowledged"] == 0  # nothing acknowledged, all kept to retry


@pytest.mark.usefixtures("oref0_dir")
def test_reference_device_runs_real_oref0_and_logs_reproducible_decisions(oref0: Any) -> None:
    config = FleetConfig(devices=2, cycles=36, seed=13, controller="oref0")
    backend, clock = _memory(config)
    plan = {1: [DecisionMismatch(20)]}
    result = run_fleet(config, InProcessTransport(backend), faults=plan, clock=clock)
    assert backend.events == []
    for index, device_id in enumerate(result.device_ids):
        stored = backend.records(device_id)
        assert_valid_chain(stored, device_key(13, device_id).public_key())
        decisions = [s for s in stored if s.record.record_type is RecordType.CONTROLLER_DECISION]
        assert len(decisions) >= 30
        mismatched = []
        for signed in decisions:
            body = signed.record.body
            assert body["algorithm"] == ALGORITHM
            assert body["algorithm_version"] == VERSION
            assert set(body["inputs"]) == set(INPUT_KEYS)
            cycle = (signed.record.device_time - DEFAULT_START) // CYCLE
            pinned = (DEFAULT_START + cycle * CYCLE).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            assert body["inputs"]["current_time"] == pinned
            again = oref0.decide(body["inputs"])
            logged = body["output"]
            if {k: again[k] for k in logged} != logged:
                mismatched.append(signed)
            else:
                assert body["raw"] == again["raw"]
        truth = [t for t in result.truth if t.device_id == device_id]
        if index == 0:
            assert mismatched == []
            assert truth == []
        else:
            assert [s.hash for s in mismatched] == [t.record_hash for t in truth]
        lo, hi = result.glucose_range[device_id]
        assert 40 <= lo <= hi <= 400


def test_simulate_splits_jsonl_output_over_workers(tmp_path: Path) -> None:
    out = tmp_path / "fleet.jsonl"
    summary = simulate(
        devices=3, hours=0.5, seed=2, controller="standin", transport="jsonl",
        output=out, workers=2, faults=["1:forged_signature@2"],
    )  # fmt: skip
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["fleet.w0.jsonl", "fleet.w1.jsonl"]
    lines = sum(len(p.read_bytes().splitlines()) for p in tmp_path.iterdir())
    assert lines == summary["totals"]["sent"] == summary["totals"]["records"]
    # the offline sink acknowledges the forged envelope: a gap follows it, never a reorder
    assert summary["ground_truth_by_fault"] == {"forged_signature": 2}
    with pytest.raises(UsageError):
        simulate(devices=2, hours=0.1, controller="standin", transport="memory", workers=2)
