"""Batches through a real broker: receipts after commit, malformed frames, redelivery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest

from medwarden.errors import InputError, StoreError, UsageError
from medwarden.ingest.mqtt import MqttIngestor
from medwarden.ingest.wire import encode_batch
from medwarden.telemetry.receipts import IngestResult
from tests.ingest.conftest import Broker
from tests.ingest.fakes import SERVER_KEY, FakeIngestPort, signed_chain, wait_until

HERE = Path(__file__).parent


def _assert_only_marker_delivered(broker: Broker, user: str, unique: str) -> None:
    """Restart on ``user``'s session: nothing old is redelivered, a new batch goes through."""
    port = FakeIngestPort()
    ingestor = broker.ingestor(port, broker.ingest_settings(user))
    try:
        with broker.device("dev-1") as device:
            marker = signed_chain(1, boot_id=f"marker-{unique}")
            results = device.send_batch(marker, batch_id=f"marker-{unique}")
    finally:
        ingestor.stop()
    assert [r.status for r in results] == ["accepted"]
    assert port.calls == [("dev-1", [marker[0].to_json()])]


def test_batch_round_trip(broker: Broker) -> None:
    port = FakeIngestPort()
    ingestor = broker.ingestor(port, broker.ingest_settings())
    try:
        with broker.device("dev-1") as device:
            envelopes = signed_chain(3)
            results = device.send_batch(envelopes, batch_id="first")
            again = device.send_batch(envelopes, batch_id="again")
    finally:
        ingestor.stop()
    assert [r.status for r in results] == ["accepted"] * 3
    assert [r.index for r in results] == [0, 1, 2]
    for result, env in zip(results, envelopes, strict=True):
        assert result.receipt is not None
        result.receipt.verify(SERVER_KEY.public_key())
        assert result.receipt.record_hash == env.hash
    assert [r.status for r in again] == ["duplicate"] * 3
    assert [r.receipt for r in again] == [r.receipt for r in results]
    assert port.calls[0] == ("dev-1", [e.to_json() for e in envelopes])
    assert ingestor.stats.answered == 2


def test_topic_identity_is_passed_to_the_port(broker: Broker) -> None:
    """dev-1 may only publish on its own topic, so the port gets dev-1, whatever the body says."""
    port = FakeIngestPort()
    ingestor = broker.ingestor(port, broker.ingest_settings())
    try:
        with broker.device("dev-1") as device:
            results = device.send_batch(signed_chain(1, device_id="dev-2"))
    finally:
        ingestor.stop()
    assert port.calls[0][0] == "dev-1"
    assert [(r.status, r.error_code) for r in results] == [("rejected", "MW502")]


def test_receipts_only_after_the_port_returned(broker: Broker, unique: str) -> None:
    gate = threading.Event()
    port = FakeIngestPort(gate=gate)
    ingestor = broker.ingestor(port, broker.ingest_settings())
    try:
        with broker.device("dev-1") as device:
            batch_id = device.publish_batch(signed_chain(2, boot_id=unique))
            assert port.entered.wait(10)
            with pytest.raises(TimeoutError):
                device.wait_results(batch_id, timeout=0.7)
            assert not port.returned.is_set()
            gate.set()
            results = device.wait_results(batch_id)
    finally:
        gate.set()
        ingestor.stop()
    assert port.returned.is_set()
    assert [r.status for r in results] == ["accepted", "accepted"]


def _records(n: int) -> list[object]:
    return [{"v": 1} for _ in range(n)]


MALFORMED = [
    pytest.param(b"{not json", None, "MW100", id="bad-json"),
    pytest.param(b"[1, 2]", None, "MW100", id="not-an-object"),
    pytest.param(b'{"records": [{}]}', None, "MW100", id="no-batch-id"),
    pytest.param(b'{"batch_id": "x", "records": []}', "x", "MW100", id="no-records"),
    pytest.param(b'{"batch_id": "x", "records": {}}', "x", "MW100", id="records-not-array"),
    pytest.param(b'{"batch_id": "y", "records": [{}], "z": 1}', "y", "MW100", id="extra-key"),
    pytest.param(
        orjson.dumps({"batch_id": "L" * 65, "records": [{}]}), None, "MW100", id="long-id"
    ),
    pytest.param(encode_batch("many", _records(1001)), "many", "MW101", id="1001-records"),
    pytest.param(
        b'{"batch_id": "big", "records": ["' + b"x" * 20_000 + b'"]}', None, "MW101", id="too-big"
    ),
]


@pytest.mark.parametrize(("payload", "batch_id", "code"), MALFORMED)
def test_malformed_batches_are_rejected_and_acknowledged(
    broker: Broker, unique: str, payload: bytes, batch_id: str | None, code: str
) -> None:
    port = FakeIngestPort()
    settings = broker.ingest_settings(max_payload_bytes=16_384)
    ingestor = broker.ingestor(port, settings)
    try:
        with broker.device("dev-1") as device:
            device.publish_raw(payload)
            results = device.wait_results(batch_id)
    finally:
        ingestor.stop()
    assert len(results) == 1
    assert (results[0].index, results[0].status, results[0].error_code) == (0, "rejected", code)
    assert results[0].detail
    assert port.attempts == 0
    assert ingestor.stats.rejected == 1
    _assert_only_marker_delivered(broker, settings.credentials.username, unique)


def test_port_input_error_rejects_the_batch_for_good(broker: Broker, unique: str) -> None:
    port = FakeIngestPort(fail=InputError("envelope 0 is unreadable"), fail_times=99)
    settings = broker.ingest_settings()
    ingestor = broker.ingestor(port, settings)
    try:
        with broker.device("dev-1") as device:
            results = device.send_batch(signed_chain(1, boot_id=unique))
    finally:
        ingestor.stop()
    assert [(r.status, r.error_code, r.detail) for r in results] == [
        ("rejected", "MW100", "envelope 0 is unreadable")
    ]
    assert port.attempts == 1
    _assert_only_marker_delivered(broker, settings.credentials.username, unique)


@pytest.mark.parametrize("error", [RuntimeError("database down"), StoreError("disk full")])
def test_transient_port_failure_is_retried_on_the_same_session(
    broker: Broker, unique: str, error: Exception
) -> None:
    port = FakeIngestPort(fail=error, fail_times=2)
    ingestor = broker.ingestor(port, broker.ingest_settings())
    try:
        with broker.device("dev-1") as device:
            results = device.send_batch(signed_chain(2, boot_id=unique), timeout=15)
    finally:
        ingestor.stop()
    assert [r.status for r in results] == ["accepted", "accepted"]
    assert port.attempts == 3
    assert len(port.calls) == 1
    assert ingestor.stats.retries == 2


def test_unacknowledged_batch_is_redelivered_after_restart_then_acked_once(
    broker: Broker, unique: str
) -> None:
    settings = broker.ingest_settings()
    down = FakeIngestPort(fail=RuntimeError("database down"), fail_times=10_000)
    envelopes = signed_chain(2, boot_id=unique)
    with broker.device("dev-1") as device:
        first = broker.ingestor(down, settings)
        try:
            batch_id = device.publish_batch(envelopes)
            assert wait_until(lambda: down.attempts >= 1)
        finally:
            first.stop()
        with pytest.raises(TimeoutError):
            device.wait_results(batch_id, timeout=0.3)
        up = FakeIngestPort()
        second = broker.ingestor(up, settings)
        try:
            results = device.wait_results(batch_id)
        finally:
            second.stop()
    assert [r.status for r in results] == ["accepted", "accepted"]
    assert up.calls == [("dev-1", [e.to_json() for e in envelopes])]
    _assert_only_marker_delivered(broker, settings.credentials.username, unique)


def test_batch_is_redelivered_when_the_ingest_process_dies(
    broker: Broker, unique: str, tmp_path: Path
) -> None:
    """SIGKILL while the port holds the batch (uncommitted): a successor gets it again."""
    settings = broker.ingest_settings()
    spec = {
        "host": broker.endpoint.host,
        "port": broker.endpoint.port,
        "ca_file": str(broker.endpoint.ca_file),
        "username": settings.credentials.username,
        "password": settings.credentials.password,
        "ready": str(tmp_path / "ready"),
        "entered": str(tmp_path / "entered"),
    }
    child = subprocess.Popen(
        [sys.executable, str(HERE / "hanging_ingestor.py")],
        stdin=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert child.stdin is not None
        child.stdin.write(json.dumps(spec).encode())
        child.stdin.close()
        assert wait_until((tmp_path / "ready").exists, 15), "the child never subscribed"
        with broker.device("dev-1") as device:
            envelopes = signed_chain(1, boot_id=unique)
            device.publish_batch(envelopes, batch_id=unique)
            assert wait_until((tmp_path / "entered").exists, 15)
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
            port = FakeIngestPort()
            successor = broker.ingestor(port, settings)
            try:
                results = device.wait_results(unique)
            finally:
                successor.stop()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert [r.status for r in results] == ["accepted"]
    assert port.calls == [("dev-1", [envelopes[0].to_json()])]


def test_results_are_plain_ingest_results(broker: Broker) -> None:
    port = FakeIngestPort()
    ingestor: MqttIngestor = broker.ingestor(port, broker.ingest_settings())
    try:
        with broker.device("dev-2") as device:
            results = device.send_batch([signed_chain(1, device_id="dev-2")[0].to_json()])
    finally:
        ingestor.stop()
    assert all(isinstance(r, IngestResult) for r in results)


def test_refused_ingest_credentials_are_retried_until_stopped(broker: Broker) -> None:
    settings = broker.ingest_settings()
    wrong = broker.ingest_settings(
        settings.credentials.username,
        credentials=type(settings.credentials)(settings.credentials.username, "wrong"),
    )
    ingestor = MqttIngestor(wrong, FakeIngestPort())
    with ingestor:
        assert not ingestor.wait_subscribed(1.0)
        with pytest.raises(UsageError, match="already started"):
            ingestor.start()
    assert ingestor.stats.answered == 0


def test_unreachable_broker_is_retried_until_stopped(broker: Broker) -> None:
    from tests.ingest.conftest import free_port

    endpoint = type(broker.endpoint)("127.0.0.1", free_port(), broker.endpoint.ca_file)
    ingestor = MqttIngestor(broker.ingest_settings(endpoint=endpoint), FakeIngestPort())
    with ingestor:
        assert not ingestor.wait_subscribed(0.7)
