"""Transports: HTTPS against a local TLS stand-in of the ingest API, MQTT, in-process, file."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medwarden.errors import (
    AuthenticationError,
    InputError,
    PermissionDeniedError,
    SignatureError,
    UsageError,
)
from medwarden.ingest.certs import generate_dev_pki
from medwarden.telemetry.envelope import parse_envelope, verify_envelope
from medwarden.telemetry.receipts import IngestResult
from medwarden.testing.fleet.backend import MemoryBackend
from medwarden.testing.fleet.device import DEFAULT_START
from medwarden.testing.fleet.fleet import SimClock
from medwarden.testing.fleet.transports import (
    RECORDS_PATH,
    HttpsTransport,
    InProcessTransport,
    JsonlFileTransport,
    MqttTransport,
    parse_results,
)

from .conftest import assert_valid_chain, run, standin_device, tick

TOKEN = "device-token-0001"


@dataclass
class StandIn:
    """A tiny ingest API: bearer token per device, JSON batch in, results out."""

    backend: MemoryBackend
    url: str = ""
    status: int | None = None
    """Answer this status instead (503, 401, ...), when set."""
    requests: list[dict[str, Any]] = field(default_factory=list)


def _handler(stand_in: StandIn, tokens: dict[str, str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return None

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            stand_in.requests.append(
                {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
            )
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            device = next((d for d, t in tokens.items() if t == token), None)
            status = stand_in.status
            if status is None and (self.path != RECORDS_PATH or device is None):
                status = 404 if self.path != RECORDS_PATH else 401
            if status is not None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            assert device is not None
            records = orjson.loads(body)["records"]
            results = stand_in.backend(device, records)
            out = orjson.dumps({"results": [r.to_json() for r in results]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    return Handler


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_dev_pki(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(pki: Any) -> Iterator[tuple[StandIn, Any]]:
    device = standin_device(cycles=12)
    clock = SimClock(DEFAULT_START)
    backend = MemoryBackend(clock)
    backend.register(device.device_id, device.public_key, DEFAULT_START - timedelta(days=1))
    stand_in = StandIn(backend)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in, {device.device_id: TOKEN}))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    stand_in.url = f"https://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield stand_in, (device, clock)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_https_sends_batches_with_the_device_token_over_verified_tls(
    server: tuple[StandIn, Any], pki: Any
) -> None:
    stand_in, (device, clock) = server
    transport = HttpsTransport(
        stand_in.url,
        {device.device_id: TOKEN},
        ca_file=pki.ca_cert,
        receipt_key=stand_in.backend.receipt_public_key,
    )
    try:
        for _ in range(6):
            tick(device, clock)
            device.run_cycle(transport)
    finally:
        transport.close()
    assert not device.outbox
    assert len(stand_in.requests) == 6
    first = stand_in.requests[0]
    assert first["path"] == RECORDS_PATH
    assert first["auth"] == f"Bearer {TOKEN}"
    records = orjson.loads(first["body"])["records"]
    assert parse_envelope(records[0]).record.device_id == device.device_id
    stored = stand_in.backend.records(device.device_id)
    assert len(stored) == device.stats.records
    assert_valid_chain(stored, device.public_key)


def test_https_retries_after_a_server_error_with_the_same_bytes(
    server: tuple[StandIn, Any], pki: Any
) -> None:
    stand_in, (device, clock) = server
    transport = HttpsTransport(stand_in.url, lambda _: TOKEN, ca_file=pki.ca_cert)
    stand_in.status = 503
    tick(device, clock)
    device.run_cycle(transport)
    waiting = [p.wire for p in device.outbox]
    assert waiting
    stand_in.status = None
    tick(device, clock)
    device.run_cycle(transport)
    transport.close()
    assert not device.outbox
    body = orjson.loads(stand_in.requests[1]["body"])["records"]
    assert [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in body[: len(waiting)]] == waiting


def test_https_refuses_a_server_whose_certificate_it_cannot_verify(
    server: tuple[StandIn, Any],
) -> None:
    stand_in, (device, clock) = server
    transport = HttpsTransport(stand_in.url, {device.device_id: TOKEN})  # system CAs only
    tick(device, clock)
    device.run_cycle(transport)
    transport.close()
    assert device.outbox, "nothing is acknowledged without a verified server"
    assert stand_in.requests == []


def test_https_raises_on_refused_credentials(server: tuple[StandIn, Any], pki: Any) -> None:
    stand_in, (device, _) = server
    transport = HttpsTransport(stand_in.url, {device.device_id: "wrong"}, ca_file=pki.ca_cert)
    envelope = [run(device, 1)[0].to_wire()]
    with pytest.raises(AuthenticationError):
        transport.send(device.device_id, envelope)
    stand_in.status = 403
    with pytest.raises(PermissionDeniedError):
        transport.send(device.device_id, envelope)
    with pytest.raises(UsageError):
        HttpsTransport(stand_in.url, {}, ca_file=pki.ca_cert).send("other", envelope)
    transport.close()


def test_https_checks_receipts_against_the_servers_key(
    server: tuple[StandIn, Any], pki: Any
) -> None:
    stand_in, (device, _) = server
    wrong = Ed25519PrivateKey.generate().public_key()
    transport = HttpsTransport(
        stand_in.url, {device.device_id: TOKEN}, ca_file=pki.ca_cert, receipt_key=wrong
    )
    with pytest.raises(SignatureError):
        transport.send(device.device_id, [run(device, 1)[0].to_wire()])
    transport.close()


def test_https_treats_an_unreachable_server_as_unacknowledged() -> None:
    transport = HttpsTransport("https://127.0.0.1:9", {"d": TOKEN}, timeout_s=2)
    assert transport.send("d", [b"{}"]) == []
    transport.close()
    with pytest.raises(UsageError):
        HttpsTransport("http://example.org", {})


def test_parse_results_refuses_malformed_answers() -> None:
    ok = orjson.dumps({"results": [{"index": 0, "status": "rejected",
                                    "error": {"code": "MW401", "detail": "bad"}}]})  # fmt: skip
    [result] = parse_results(ok, 1)
    assert (result.status, result.error_code, result.detail) == ("rejected", "MW401", "bad")
    for bad in (
        b"not json",
        b"[]",
        orjson.dumps({"results": [{"index": 3, "status": "accepted"}]}),
        orjson.dumps({"results": [{"index": 0, "status": "maybe"}]}),
        orjson.dumps({"results": [{"index": 0}]}),
        orjson.dumps({"results": [{"index": 0, "status": "rejected", "error": "x"}]}),
    ):
        with pytest.raises(InputError):
            parse_results(bad, 1)


def test_jsonl_file_writes_every_envelope_and_can_tee(tmp_path: Path) -> None:
    device = standin_device(cycles=6)
    clock = SimClock(DEFAULT_START)
    backend = MemoryBackend(clock)
    backend.register(device.device_id, device.public_key, DEFAULT_START - timedelta(days=1))
    path = tmp_path / "records.jsonl"
    transport = JsonlFileTransport(path, tee=InProcessTransport(backend))
    for _ in range(4):
        tick(device, clock)
        device.run_cycle(transport)
    transport.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == transport.lines == device.stats.records
    for line in lines:
        verify_envelope(device.public_key, parse_envelope(line))
    assert len(backend.records(device.device_id)) == len(lines)

    offline = JsonlFileTransport(tmp_path / "offline.jsonl")
    assert [r.status for r in offline.send("d", [b"{}", b"{}"])] == ["accepted", "accepted"]
    offline.close()


class FakeMqttClient:
    """Stands in for MqttDeviceClient: records batches, answers accepted (or times out)."""

    instances: list[FakeMqttClient] = []  # noqa: RUF012 - test registry
    fail_next = False

    def __init__(self, endpoint: Any, device_id: str, password: str, *, timeout: float) -> None:
        self.device_id, self.password, self.closed = device_id, password, False
        self.batches: list[list[Any]] = []
        FakeMqttClient.instances.append(self)

    def connect(self) -> None:
        return None

    def send_batch(self, envelopes: list[Any]) -> list[IngestResult]:
        if FakeMqttClient.fail_next:
            FakeMqttClient.fail_next = False
            raise TimeoutError("no receipts")
        self.batches.append(envelopes)
        return [IngestResult(i, "accepted") for i in range(len(envelopes))]

    def close(self) -> None:
        self.closed = True


def test_mqtt_uses_one_client_per_device_and_reconnects_after_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import medwarden.ingest.mqtt_client as mqtt_client

    FakeMqttClient.instances = []
    monkeypatch.setattr(mqtt_client, "MqttDeviceClient", FakeMqttClient)
    transport = MqttTransport(object(), {"d1": "pw1", "d2": "pw2"})
    device = standin_device(cycles=4)
    wire = [s.to_wire() for s in run(device, 1)]
    assert [r.status for r in transport.send("d1", wire)] == ["accepted"] * len(wire)
    transport.send("d2", wire)
    transport.send("d1", wire)
    assert [c.device_id for c in FakeMqttClient.instances] == ["d1", "d2"]
    assert FakeMqttClient.instances[0].batches[0][0] == orjson.loads(wire[0])
    FakeMqttClient.fail_next = True
    assert transport.send("d1", wire) == []
    assert FakeMqttClient.instances[0].closed
    transport.send("d1", wire)
    assert len(FakeMqttClient.instances) == 3  # a new connection after the timeout
    transport.close()
    assert all(c.closed for c in FakeMqttClient.instances)
