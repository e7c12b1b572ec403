"""Issue 4 acceptance: 20 simulated devices x 1 simulated day over HTTPS and MQTT.

The reference fleet (simglucose patients, CGM, pump, the real OpenAPS oref0 controller)
signs its records and sends them to a real backend: the API served by uvicorn over TLS
(even device indexes) and Debian's mosquitto with per-device logins and ACLs plus the
medwarden subscriber (odd indexes).  Twelve devices carry one injected fault or attack
each (item 6 of the issue); eight are clean.  The backend's receipt clock is the
simulation's clock, so device clocks are judged as a live backend would judge them.

Then the backend's checks run (including re-computation with the registered oref0 and the
independent safety envelope) and every signal the backend raised -- security events at
ingest and early warnings after it -- is compared with the ground truth: each injected
fault must raise its signal naming the right record, and the clean devices must raise
none.  Precision and recall per signal are printed and written to ``fleet-report.json``.
Finally every clean decision of the fleet is re-computed with the registered controller
and must reproduce the logged decision.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from medwarden.api.app import create_app
from medwarden.config import Settings
from medwarden.core.b64 import b64url_decode
from medwarden.ingest.certs import generate_dev_pki
from medwarden.ingest.mqtt import IngestSettings, MqttIngestor
from medwarden.keys import load_or_create_signer
from medwarden.services.telemetry import mqtt_port, register_device
from medwarden.services.telemetry_checks import (
    WarningQuery,
    default_controllers,
    run_device_checks,
)
from medwarden.store import open_store
from medwarden.telemetry.devices import DeviceRegistration
from medwarden.telemetry.recompute import Verdict, recompute_decision
from medwarden.telemetry.records import RecordType
from medwarden.testing.fleet.cli import export_devices
from medwarden.testing.fleet.faults import fault_from_spec
from medwarden.testing.fleet.fleet import FleetConfig, SimClock, run_fleet
from medwarden.testing.fleet.transports import HttpsTransport, MqttTransport
from tests.mqtt_broker import RunningBroker, running_broker
from tests.ops_helpers import free_port

pytestmark = pytest.mark.slow

SEED = 4
DEVICES = 20
CYCLES = 288  # one simulated day of 5-minute loops
MODEL_LIMITS = (
    Path(__file__).parents[2] / "src/medwarden/data/sample/device-model-aid-reference.json"
)
FAULTS = {
    0: "transit_dose_tamper@40",
    1: "device_dose_tamper@50",
    2: "transit_sensor_tamper@60",
    3: "device_sensor_tamper@70",
    4: "forged_signature@80",
    5: "replay@90",
    6: "dropped_records@100",
    7: "reordered_records@110",
    8: "clock_jump@120",
    9: "sensor_compression_low@130",
    10: "sensor_dropout@140",
    11: "decision_mismatch@150",
}
"""One fault per device; devices 12-19 are clean."""

SIGNALS: dict[str, set[str]] = {
    # ground-truth "expected" -> the backend signals that detect it (event kinds, warning codes)
    "bad_signature": {"event:bad_signature"},
    # a lost command leaves its confirmation without one
    "gap": {"event:gap", "warning:chain_gap", "warning:confirmation_without_command"},
    "reorder": {"event:reorder"},
    "new_boot": {"event:new_boot"},
    "clock_outside_window": {
        "event:clock_outside_window",
        "warning:time_jump_forward",
        "warning:clock_drift",
        "warning:sensor_gap",  # two hours jumped in device time look like missing readings
    },
    "time_backwards": {"event:time_backwards", "warning:time_backwards"},
    "stale_duplicate": {"event:stale_duplicate"},
    "sensor_compression_low": {
        "warning:compression_low",
        "warning:implausible_rate_of_change",  # the dip itself is faster than physiology
    },
    "sensor_dropout": {"warning:sensor_gap", "warning:signal_loss"},
    "decision_mismatch": {
        "warning:decision_mismatch",
        "warning:safety_envelope_violation",  # the diverse check may catch it too
    },
    "dose_mismatch": {"warning:command_decision_mismatch"},
    "sensor_mismatch": {
        "warning:decision_input_mismatch",
        "warning:implausible_rate_of_change",  # the altered reading jumps
    },
}
"""A signal is a true positive when it names the record the truth names; a signal of the
same family elsewhere on the faulty device (a drift warning over the records after a clock
jump, say) is attributed to that fault; any other signal is a false positive."""


class _Clock:
    """The backend's clock, reading the simulation's."""

    def __init__(self, sim: SimClock) -> None:
        self.sim = sim

    def now(self) -> datetime:
        return self.sim.now


class _Router:
    """Even device indexes over HTTPS, odd over MQTT."""

    def __init__(self, https: HttpsTransport, mqtt: MqttTransport, odd: set[str]) -> None:
        self.https, self.mqtt, self.odd = https, mqtt, odd

    def send(self, device_id: str, envelopes: Any) -> Any:
        return (self.mqtt if device_id in self.odd else self.https).send(device_id, envelopes)

    def close(self) -> None:
        self.https.close()
        self.mqtt.close()


def _serve_and_run(
    db: str,
    key_file: Path,
    clock: _Clock,
    config: FleetConfig,
    credentials: dict[str, str],
    broker: RunningBroker,
) -> tuple[Any, float]:
    """Serve HTTPS (uvicorn, TLS) and the MQTT subscriber on the simulation's clock, run the
    fleet through them, and stop them; return the fleet result and its wall time."""
    ids = list(credentials)
    tls = generate_dev_pki(Path(key_file).parent / "https")
    app = create_app(Settings(db=db, db_source="option", ledger_key=str(key_file)), clock=clock)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ssl_certfile=str(tls.server_cert),
            ssl_keyfile=str(tls.server_key),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    signer = load_or_create_signer(key_file)
    ingest_store = open_store(db)
    ingestor = MqttIngestor(
        IngestSettings(broker.endpoint, broker.ingest),
        mqtt_port(ingest_store.ledger, signer, clock=clock),
    )
    try:
        while not server.started:
            time.sleep(0.05)
        ingestor.start()
        assert ingestor.wait_subscribed(20)
        receipt_key = signer.key.public_key()
        router = _Router(
            HttpsTransport(
                f"https://127.0.0.1:{port}",
                credentials,
                ca_file=tls.ca_cert,
                receipt_key=receipt_key,
            ),
            MqttTransport(broker.endpoint, broker.passwords, timeout_s=30, receipt_key=receipt_key),
            {ids[i] for i in range(1, DEVICES, 2)},
        )
        plan = {i: [fault_from_spec(spec)] for i, spec in FAULTS.items()}
        began = time.perf_counter()
        result = run_fleet(config, router, faults=plan, clock=clock.sim)
        router.close()
        return result, time.perf_counter() - began
    finally:
        ingestor.stop()
        ingest_store.close()
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("fleet")
    db = str(root / "medwarden.db")
    key_file = root / "ledger.pem"
    config = FleetConfig(devices=DEVICES, cycles=CYCLES, seed=SEED, controller="oref0")
    sim_clock = SimClock(config.start)
    clock = _Clock(sim_clock)
    exported = export_devices(SEED, DEVICES)
    ids = [d["device_id"] for d in exported]
    credentials: dict[str, str] = {}
    with open_store(db) as store:
        store.devices.set_model(
            "aid-reference", json.loads(MODEL_LIMITS.read_text()), at=config.start, actor="test"
        )
        for d in exported:
            reg = DeviceRegistration(
                d["device_id"],
                "aid-reference",
                f"SN-{d['device_id']}",
                "1.0",
                controller_algorithm="oref0-determine-basal",
                controller_version="0.7.1",
                patient_ref=f"PSN-{d['patient']}",
            )
            credentials[d["device_id"]] = register_device(
                store.devices, reg, clock=clock, actor="t"
            ).secret
            store.devices.enroll_key(
                d["device_id"], b64url_decode(d["public_key"]), at=config.start, actor="t"
            )

    with running_broker(root / "mqtt", ids) as broker:
        result, fleet_seconds = _serve_and_run(db, key_file, clock, config, credentials, broker)
    with open_store(db) as store:
        controllers = default_controllers()
        for device_id in ids:
            run_device_checks(store.warnings, device_id, controllers=controllers, clock=clock)
    return {
        "db": db,
        "ids": ids,
        "result": result,
        "root": root,
        "seconds": fleet_seconds,
        "clock": clock,
    }


def _raised(db: str) -> dict[tuple[str, str], set[str]]:
    """(device, record hash) -> the signals raised naming it."""
    raised: dict[tuple[str, str], set[str]] = defaultdict(set)
    with open_store(db) as store:
        after = 0
        while batch := store.ledger.events(after=after, limit=500):
            for e in batch:
                if e["record_hash"]:
                    raised[(e["device_id"], e["record_hash"])].add(f"event:{e['kind']}")
            after = batch[-1]["pk"]
        before = None
        while page := store.warnings.list_warnings(WarningQuery(), before=before, limit=500):
            for w in page:
                for ref in w.evidence.get("records", []):
                    raised[(str(w.device_id), ref["record_hash"])].add(f"warning:{w.code}")
            before = page[-1].id
    return raised


def _score(
    truth: list[Any], raised: dict[tuple[str, str], set[str]]
) -> tuple[dict[str, Any], list[Any], list[tuple[str, str, str]]]:
    """Per-signal counts, the primary truths missed, and the unattributed signals."""
    per_signal: dict[str, Counter[str]] = defaultdict(Counter)
    family: dict[str, set[str]] = defaultdict(set)
    missed = []
    for t in truth:
        wanted = SIGNALS[t.expected]
        family[t.device_id] |= wanted
        if raised.get((t.device_id, t.record_hash), set()) & wanted:
            per_signal[t.expected]["tp"] += 1
        else:
            per_signal[t.expected]["fn"] += 1
            if t.primary:
                missed.append(t)
    unattributed = [
        (device, h, s)
        for (device, h), signals in sorted(raised.items())
        for s in sorted(signals)
        if s not in family[device] and s != "event:new_boot"
    ]
    for _device, _h, s in unattributed:
        per_signal[s]["fp"] += 1
    report: dict[str, Any] = {}
    for signal, counts in sorted(per_signal.items()):
        found, wrong, lost = counts["tp"], counts["fp"], counts["fn"]
        report[signal] = {
            **counts,
            "precision": found / (found + wrong) if found + wrong else None,
            "recall": found / (found + lost) if found + lost else None,
        }
    return report, missed, unattributed


def test_every_injected_fault_is_detected_and_clean_devices_stay_silent(
    fleet_run: dict[str, Any],
) -> None:
    truth = fleet_run["result"].truth
    raised = _raised(fleet_run["db"])
    clean = set(fleet_run["ids"][len(FAULTS) :])
    report, missed, unattributed = _score(truth, raised)
    report["_fleet"] = {
        "devices": DEVICES,
        "cycles": CYCLES,
        "seconds": round(fleet_run["seconds"], 1),
        "records": fleet_run["result"].summary()["totals"],
        "unattributed": [list(u) for u in unattributed[:50]],
    }
    out = fleet_run["root"] / "fleet-report.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    sys.stdout.write(f"fleet report: {out}\n{json.dumps(report, indent=2, default=str)}\n")
    assert not missed, [(t.device_id, t.fault, t.expected, t.seq) for t in missed]
    on_clean = [u for u in unattributed if u[0] in clean]
    assert not on_clean, on_clean
    assert not unattributed, unattributed[:20]


def test_recomputation_reproduces_every_clean_decision(fleet_run: dict[str, Any]) -> None:
    injected = {t.record_hash for t in fleet_run["result"].truth if t.fault == "decision_mismatch"}
    controllers = default_controllers()
    verdicts: Counter[str] = Counter()
    start = fleet_run["result"].config.start
    with open_store(fleet_run["db"]) as store:
        for device_id in fleet_run["ids"]:
            for item in store.timeline.window(device_id, start, start + timedelta(days=2)):
                if item.record.record_type is not RecordType.CONTROLLER_DECISION:
                    continue
                result = recompute_decision(item.record.body, controllers.get)
                key = "injected" if item.record_hash in injected else result.verdict.value
                verdicts[key] += 1
                if item.record_hash not in injected:
                    assert result.verdict is Verdict.MATCH, (device_id, item.record.seq, result)
    sys.stdout.write(f"re-computation verdicts: {dict(verdicts)}\n")
    assert verdicts["match"] >= DEVICES * CYCLES * 0.95
    assert verdicts["injected"] == 1
