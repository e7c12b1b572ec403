"""A simulated device over MQTT: a real mosquitto (TLS, passwords, ACL) and the ingestor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from medwarden.ingest.mqtt import IngestSettings, MqttIngestor
from medwarden.testing.fleet.backend import MemoryBackend, compare_truth
from medwarden.testing.fleet.device import DEFAULT_START
from medwarden.testing.fleet.faults import ReorderRecords, TransitDoseTamper
from medwarden.testing.fleet.fleet import SimClock
from medwarden.testing.fleet.transports import MqttTransport
from tests.mqtt_broker import running_broker

from .conftest import assert_valid_chain, standin_device, tick

DEVICE = "sim-5-0000"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with running_broker(
        tmp_path_factory.mktemp("mqtt-sim"), [DEVICE], max_packet_size=1024 * 1024
    ) as running:
        yield {
            "endpoint": running.endpoint,
            "ingest": running.ingest,
            "device_pw": running.passwords[DEVICE],
        }


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
