"""Broker files, certificates, topics and message formats (no broker needed)."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from cryptography import x509

from medwarden.errors import (
    ConfigError,
    InputError,
    InputTooLargeError,
    SignatureError,
    StoreError,
    UsageError,
)
from medwarden.ingest.certs import generate_dev_pki
from medwarden.ingest.mosquitto import (
    DEFAULT_INGEST_USER,
    BrokerConfig,
    add_device_credential,
    add_service_user,
    generate_password,
    hash_password,
    read_password_file,
    reload_broker,
    render_acl,
    render_config,
    revoke_device_credential,
)
from medwarden.ingest.mqtt import BrokerEndpoint, Credentials, IngestSettings
from medwarden.ingest.mqtt_client import MqttDeviceClient
from medwarden.ingest.ports import is_definitive, rejected
from medwarden.ingest.wire import (
    batch_id_of,
    check_device_id,
    decode_batch,
    decode_receipts,
    device_id_from_topic,
    encode_batch,
    encode_receipts,
    receipts_topic,
    records_topic,
    result_from_json,
)
from medwarden.telemetry.receipts import IngestResult
from tests.ingest.conftest import find_tool
from tests.ingest.fakes import FakeIngestPort, signed_chain


def _check(hashed: str, password: str) -> bool:
    """Verify a ``$7$`` hash the way mosquitto does."""
    _, version, iterations, salt, digest = hashed.split("$")
    assert version == "7"
    again = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), base64.b64decode(salt), int(iterations)
    )
    return base64.b64encode(again).decode() == digest


def test_hash_matches_mosquitto_passwd(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    subprocess.run(
        [find_tool("mosquitto_passwd"), "-c", "-b", str(path), "alice", "s3cret"],
        check=True,
        capture_output=True,
    )
    theirs = read_password_file(path)["alice"]
    salt = base64.b64decode(theirs.split("$")[3])
    assert hash_password("s3cret", salt=salt) == theirs
    assert _check(hash_password("s3cret"), "s3cret")
    assert not _check(hash_password("s3cret"), "other")


def test_add_rotate_and_revoke_device_credentials(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    add_service_user(path, password="ingest-pw")
    add_device_credential(path, "pump-1", "one")
    add_device_credential(path, "pump-2", "two")
    add_device_credential(path, "pump-1", "rotated")
    entries = read_password_file(path)
    assert sorted(entries) == [DEFAULT_INGEST_USER, "pump-1", "pump-2"]
    assert _check(entries["pump-1"], "rotated")
    assert "rotated" not in path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    assert revoke_device_credential(path, "pump-1")
    assert not revoke_device_credential(path, "pump-1")
    assert sorted(read_password_file(path)) == [DEFAULT_INGEST_USER, "pump-2"]


@pytest.mark.parametrize("device_id", ["", "a:b", "dev/1", "dev+", "#", "_ingest", "x" * 129])
def test_device_ids_unfit_for_the_broker_are_refused(tmp_path: Path, device_id: str) -> None:
    with pytest.raises(InputError):
        add_device_credential(tmp_path / "pw", device_id, "pw")


@pytest.mark.parametrize("password", ["", "a\nb", "nul\x00", "x" * 1025])
def test_unusable_passwords_are_refused(tmp_path: Path, password: str) -> None:
    with pytest.raises(UsageError):
        add_device_credential(tmp_path / "pw", "dev-1", password)


def test_service_users_must_start_with_underscore(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="'_'"):
        add_service_user(tmp_path / "pw", "ingest", password="pw")
    with pytest.raises(UsageError):
        render_acl(["ingest"])
    with pytest.raises(UsageError):
        render_acl([])


def test_malformed_password_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("# comment\n\nno-colon-here\n")
    with pytest.raises(ConfigError, match="line 3"):
        read_password_file(path)


def test_reload_signals_the_given_process(tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        add_device_credential(tmp_path / "pw", "dev-1", "pw", pid=child.pid)
        assert child.wait(10) == -signal.SIGHUP
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    with pytest.raises(UsageError):
        reload_broker(1)


def test_generated_passwords_are_long_and_distinct() -> None:
    first, second = generate_password(), generate_password()
    assert first != second
    assert len(first) >= 43


def test_acl_grants_devices_only_their_own_topics() -> None:
    text = render_acl(["_ingest-a"])
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert rules == [
        "user _ingest-a",
        "topic read medwarden/v1/devices/+/records",
        "topic write medwarden/v1/devices/+/receipts",
        "pattern write medwarden/v1/devices/%u/records",
        "pattern read medwarden/v1/devices/%u/receipts",
    ]


def _config(tmp_path: Path, **overrides: object) -> BrokerConfig:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 8883,
        "cafile": tmp_path / "ca.pem",
        "certfile": tmp_path / "server.pem",
        "keyfile": tmp_path / "server.key",
        "password_file": tmp_path / "pw",
        "acl_file": tmp_path / "acl",
        "persistence_dir": tmp_path / "data",
    }
    values.update(overrides)
    return BrokerConfig(**values)  # type: ignore[arg-type]


def test_config_is_tls_only_without_anonymous_access(tmp_path: Path) -> None:
    lines = render_config(_config(tmp_path, pid_file=tmp_path / "pid")).splitlines()
    assert [line for line in lines if line.startswith(("listener", "port "))] == [
        "listener 8883 127.0.0.1"
    ]
    for expected in (
        "allow_anonymous false",
        "require_certificate false",
        "persistence true",
        f"persistence_location {tmp_path / 'data'}/",
        f"password_file {tmp_path / 'pw'}",
        f"acl_file {tmp_path / 'acl'}",
        f"keyfile {tmp_path / 'server.key'}",
        "use_username_as_clientid true",
        "log_dest stderr",
        f"pid_file {tmp_path / 'pid'}",
    ):
        assert expected in lines


@pytest.mark.parametrize(
    "overrides",
    [{"port": 0}, {"port": 70000}, {"host": "127.0.0.1\nlistener 1883"}, {"run_as": " root"}],
)
def test_config_refuses_values_mosquitto_would_misread(
    tmp_path: Path, overrides: dict[str, object]
) -> None:
    with pytest.raises(ConfigError):
        _config(tmp_path, **overrides)


def test_dev_pki_names_the_hosts_and_keeps_the_key_private(tmp_path: Path) -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    pki = generate_dev_pki(tmp_path / "tls", hosts=("127.0.0.1", "broker.local"), now=at)
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(pki.server_cert.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["broker.local"]
    assert server.issuer == ca.subject
    server.verify_directly_issued_by(ca)
    assert server.not_valid_before_utc < at < server.not_valid_after_utc
    assert os.stat(pki.server_key).st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob("tls/ca*.key"))
    with pytest.raises(UsageError):
        generate_dev_pki(tmp_path / "x", hosts=())
    with pytest.raises(UsageError):
        generate_dev_pki(tmp_path / "x", valid_days=0)


def test_topics() -> None:
    assert records_topic("pump-1") == "medwarden/v1/devices/pump-1/records"
    assert receipts_topic("pump-1") == "medwarden/v1/devices/pump-1/receipts"
    assert device_id_from_topic("medwarden/v1/devices/pump-1/records") == "pump-1"
    for topic in (
        "medwarden/v1/devices/pump-1/receipts",
        "medwarden/v1/devices/_medwarden-ingest/records",
        "medwarden/v1/devices//records",
        "medwarden/v1/devices/a/b/records",
        "x/medwarden/v1/devices/pump-1/records",
        "",
    ):
        assert device_id_from_topic(topic) is None
    assert check_device_id("a.b@c_d-e") == "a.b@c_d-e"


def test_batch_round_trips_through_the_codec() -> None:
    envelopes = [e.to_json() for e in signed_chain(2)]
    batch = decode_batch(encode_batch("b-1", envelopes))
    assert (batch.batch_id, list(batch.records)) == ("b-1", envelopes)
    with pytest.raises(InputTooLargeError):
        decode_batch(encode_batch("b-1", envelopes), max_bytes=100)
    with pytest.raises(InputTooLargeError):
        decode_batch(encode_batch("b-1", envelopes), max_records=1)
    assert batch_id_of({"batch_id": "ok", "records": 5}) == "ok"
    assert batch_id_of({"batch_id": 5}) is None
    assert batch_id_of([1]) is None


def test_receipts_round_trip_through_the_codec() -> None:
    port = FakeIngestPort()
    results = list(port("dev-1", [e.to_json() for e in signed_chain(2)]))
    results.append(rejected(SignatureError("bad signature"), index=2))
    batch_id, back = decode_receipts(encode_receipts("b-1", results))
    assert batch_id == "b-1"
    assert back == results


@pytest.mark.parametrize(
    "payload",
    [
        b"nope",
        b"[]",
        b'{"batch_id": 1, "results": []}',
        b'{"batch_id": null, "results": {}}',
        b'{"batch_id": null, "results": [{"index": true, "status": "accepted"}]}',
        b'{"batch_id": null, "results": [{"index": 0, "status": "maybe"}]}',
        b'{"batch_id": null, "results": [{"index": 0, "status": "rejected", "error": 5}]}',
        b'{"batch_id": null, "results": [{"status": "accepted"}]}',
    ],
)
def test_malformed_receipts_messages_are_refused(payload: bytes) -> None:
    with pytest.raises(InputError):
        decode_receipts(payload)


def test_port_errors_split_into_definitive_and_transient() -> None:
    assert is_definitive(InputError("x"))
    assert is_definitive(SignatureError("x"))
    assert is_definitive(UsageError("x"))
    assert not is_definitive(StoreError("x"))
    assert not is_definitive(RuntimeError("x"))
    result = rejected(InputTooLargeError("too big"), index=3)
    assert result == IngestResult(3, "rejected", None, "MW101", "too big")
    assert result_from_json(orjson.loads(orjson.dumps(result.to_json()))) == result


@pytest.mark.parametrize(
    "overrides",
    [{"session_expiry": 0}, {"max_payload_bytes": 10}, {"max_records": 0}, {"max_records": 1001}],
)
def test_ingest_settings_refuse_unusable_limits(tmp_path: Path, overrides: dict[str, int]) -> None:
    endpoint = BrokerEndpoint("127.0.0.1", 8883, tmp_path / "ca.pem")
    with pytest.raises(ConfigError):
        IngestSettings(endpoint, Credentials("_ingest", "pw"), **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize("values", [{"port": 0}, {"port": 65536}, {"keepalive": 1}])
def test_broker_endpoint_refuses_bad_values(tmp_path: Path, values: dict[str, int]) -> None:
    arguments: dict[str, object] = {"host": "h", "port": 8883, "ca_file": tmp_path / "ca"}
    arguments.update(values)
    with pytest.raises(ConfigError):
        BrokerEndpoint(**arguments)  # type: ignore[arg-type]


def test_missing_ca_file_is_a_config_error(tmp_path: Path) -> None:
    endpoint = BrokerEndpoint("127.0.0.1", 8883, tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="CA file"):
        MqttDeviceClient(endpoint, "dev-1", "pw")
