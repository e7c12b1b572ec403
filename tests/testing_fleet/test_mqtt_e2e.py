"""A simulated device over MQTT: a real mosquitto (TLS, passwords, ACL) and the ingestor."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from medwarden.ingest.certs import generate_dev_pki
from medwarden.ingest.mosquitto import (
    DEFAULT_INGEST_USER,
    BrokerConfig,
    add_device_credential,
    add_service_user,
    generate_password,
    write_acl,
    write_config,
)
from medwarden.ingest.mqtt import BrokerEndpoint, Credentials, IngestSettings, MqttIngestor
from medwarden.testing.fleet.backend import MemoryBackend, compare_truth
from medwarden.testing.fleet.device import DEFAULT_START
from medwarden.testing.fleet.faults import ReorderRecords, TransitDoseTamper
from medwarden.testing.fleet.fleet import SimClock
from medwarden.testing.fleet.transports import MqttTransport

from .conftest import assert_valid_chain, standin_device, tick

DEVICE = "sim-5-0000"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    mosquitto = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    if mosquitto is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    root = tmp_path_factory.mktemp("mqtt-sim")
    (root / "data").mkdir()
    pki = generate_dev_pki(root / "tls")
    ingest_pw, device_pw = generate_password(), generate_password()
    config = BrokerConfig(
        host="127.0.0.1",
        port=_free_port(),
        cafile=pki.ca_cert,
        certfile=pki.server_cert,
        keyfile=pki.server_key,
        password_file=root / "passwords",
        acl_file=root / "acl",
        persistence_dir=root / "data",
        log_file=root / "mosquitto.log",
        run_as=pwd.getpwuid(os.getuid()).pw_name,
        max_packet_size=1024 * 1024,
    )
    add_service_user(config.password_file, DEFAULT_INGEST_USER, password=ingest_pw)
    add_device_credential(config.password_file, DEVICE, device_pw)
    write_acl(config.acl_file)
    conf = write_config(config, root / "mosquitto.conf")
    process = subprocess.Popen(
        [mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", config.port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = Path(str(config.log_file))
                    pytest.fail(f"mosquitto did not start: {log.read_text(errors='replace')}")
                time.sleep(0.05)
        yield {
            "endpoint": BrokerEndpoint("127.0.0.1", config.port, pki.ca_cert, keepalive=10),
            "ingest": Credentials(DEFAULT_INGEST_USER, ingest_pw),
            "device_pw": device_pw,
        }
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_device_sends_over_mqtt_with_faults_and_the_truth_matches(broker: dict[str, Any]) -> None:
    device = standin_device(cycles=14, faults=[TransitDoseTamper(4), ReorderRecords(9)])
    assert device.device_id == DEVICE
    clock = SimClock(DEFAULT_START)
    backend = MemoryBackend(clock)
    backend.register(DEVICE, device.public_key, DEFAULT_START - timedelta(days=1))
    ingestor = MqttIngestor(IngestSettings(broker["endpoint"], broker["ingest"]), backend)
    ingestor.start()
    try:
        assert ingestor.wait_subscribed(10)
        transport = MqttTransport(
            broker["endpoint"], {DEVICE: broker["device_pw"]},
            receipt_key=backend.receipt_public_key,
        )  # fmt: skip
        try:
            for _ in range(14):
                tick(device, clock)
                device.run_cycle(transport)
        finally:
            transport.close()
    finally:
        ingestor.stop()
    assert not device.outbox
    stored = backend.records(DEVICE)
    assert len(stored) == device.stats.records
    assert_valid_chain(sorted(stored, key=lambda s: s.record.seq), device.public_key)
    score = compare_truth(device.truth, backend.events)
    assert score["missed"] == []
    assert score["unexpected"] == []
    assert score["matched"] >= 3
