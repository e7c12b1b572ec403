"""SIGKILL the API server in the middle of HTTPS ingest, restart it, let devices resume.

Acceptance (issue 4): every acknowledged record is present, the ledger verifies, and the
devices resume without duplicates.  Six devices send pre-signed chains over HTTPS
(`medwarden serve --tls-cert ...`, a real uvicorn process) in batches; each device
retries the same bytes after a failed request, as a real device must.  The server is
killed with SIGKILL while batches are in flight and restarted on the same store.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medwarden.core.clock import FixedClock
from medwarden.ingest.certs import DevPki, generate_dev_pki
from medwarden.keys import load_or_create_signer
from medwarden.services.telemetry import register_device
from medwarden.store import open_store
from medwarden.telemetry.devices import DeviceRegistration, public_key_to_bytes
from medwarden.telemetry.envelope import record_hash, sign_record
from medwarden.telemetry.ledger.verify import verify_export
from medwarden.telemetry.receipts import Receipt
from medwarden.telemetry.records import GENESIS, DeviceRecord, RecordType
from tests.ops_helpers import free_port
from tests.store.conftest import store_url  # noqa: F401 - both backends

DEVICES = 6
RECORDS = 240
BATCH = 8
MEDWARDEN = [str(Path(sys.executable).with_name("medwarden"))]


@dataclass
class Device:
    device_id: str
    credential: str
    envelopes: list[dict]
    acked: dict[str, Receipt] = field(default_factory=dict)
    statuses: list[str] = field(default_factory=list)
    failures: int = 0


def _chain(device_id: str, key: Ed25519PrivateKey, start: datetime) -> list[dict]:
    out, prev = [], GENESIS
    for seq in range(RECORDS):
        rec = DeviceRecord(
            device_id,
            "boot-1",
            seq,
            start + timedelta(seconds=seq),
            prev,
            RecordType.SENSOR_READING,
            {"glucose_mg_dl": 100 + seq % 50},
        )
        out.append(sign_record(key, rec).to_json())
        prev = record_hash(rec)
    return out


def _serve(db: str, port: int, tls: DevPki, env: dict[str, str], log: Path) -> subprocess.Popen:
    args = [*MEDWARDEN, "serve", "--port", str(port), "--db", db]
    args += ["--tls-cert", str(tls.server_cert), "--tls-key", str(tls.server_key)]
    with log.open("ab") as out:
        return subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def _tls(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def _wait_up(base: str, ca: Path, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if httpx.get(f"{base}/api/v1/health", verify=_tls(ca), timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("server did not come up")


def _send_all(device: Device, base: str, ca: Path, stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {device.credential}"}
    with httpx.Client(base_url=base, verify=_tls(ca), timeout=5, headers=headers) as client:
        i = 0
        while i < len(device.envelopes) and not stop.is_set():
            batch = device.envelopes[i : i + BATCH]
            try:
                answer = client.post("/api/v1/telemetry/records", json={"records": batch})
            except httpx.HTTPError:
                device.failures += 1
                time.sleep(0.05)
                continue  # the same bytes again: retries must be idempotent
            if answer.status_code != 200:
                device.failures += 1
                time.sleep(0.05)
                continue
            for result in answer.json()["results"]:
                device.statuses.append(result["status"])
                if "receipt" in result:
                    receipt = Receipt.from_json(result["receipt"])
                    device.acked[receipt.record_hash] = receipt
            i += BATCH


@pytest.fixture
def fleet(store_url: str, tmp_path: Path) -> Iterator[tuple[str, list[Device], Path]]:  # noqa: F811
    key_file = tmp_path / "ledger.pem"
    start = datetime.now(UTC) - timedelta(minutes=2)
    devices = []
    with open_store(store_url) as store:
        store.devices.set_model("aid", {}, at=start, actor="test")
        for n in range(DEVICES):
            device_id = f"crash-{n}"
            key = Ed25519PrivateKey.generate()
            issued = register_device(
                store.devices,
                DeviceRegistration(device_id, "aid", f"S{n}", "1.0"),
                clock=FixedClock(start),
                actor="test",
            )
            store.devices.enroll_key(
                device_id, public_key_to_bytes(key.public_key()), at=start, actor="t"
            )
            devices.append(Device(device_id, issued.secret, _chain(device_id, key, start)))
    return store_url, devices, key_file


def test_sigkill_mid_ingest_loses_no_acknowledged_record(
    fleet: tuple[str, list[Device], Path], tmp_path: Path
) -> None:
    db, devices, key_file = fleet
    tls = generate_dev_pki(tmp_path / "tls")
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    env = {**os.environ, "MEDWARDEN_LEDGER_KEY": str(key_file)}
    log = tmp_path / "serve.log"
    server = _serve(db, port, tls, env, log)
    try:
        _wait_up(base, tls.ca_cert)
        stop = threading.Event()
        threads = [
            threading.Thread(target=_send_all, args=(d, base, tls.ca_cert, stop)) for d in devices
        ]
        for t in threads:
            t.start()
        while sum(len(d.acked) for d in devices) < DEVICES * RECORDS // 4:
            time.sleep(0.01)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        acked_at_kill = sum(len(d.acked) for d in devices)
        time.sleep(0.5)  # devices keep failing while the server is down
        server = _serve(db, port, tls, env, log)
        _wait_up(base, tls.ca_cert)
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
    finally:
        server.kill()
        server.wait(timeout=10)

    signer = load_or_create_signer(key_file)
    assert acked_at_kill < DEVICES * RECORDS
    assert sum(d.failures for d in devices) > 0, "the kill interrupted no request"
    for d in devices:
        assert "rejected" not in d.statuses
        assert len(d.acked) == RECORDS
        for receipt in d.acked.values():
            receipt.verify(signer.key.public_key())
    with open_store(db) as store:
        for d in devices:
            size, _root = store.ledger.tree_head(d.device_id)
            assert size == RECORDS, "a record was lost or stored twice"
            for h, receipt in d.acked.items():
                assert store.ledger.leaf(d.device_id, h)[0] == receipt.ledger_index
        lines = list(store.ledger.export([d.device_id for d in devices]))
    report = verify_export(lines, signatures=True)
    assert report.ok, report.first_failure
    assert report.records == DEVICES * RECORDS
