"""The broker's side of the contract: TLS only, no anonymous access, per-device ACLs, revocation."""

from __future__ import annotations

import gc
import socket
import ssl
import threading
from typing import Any

import pytest
from paho.mqtt.client import Client, ConnectFlags
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from medwarden.errors import AuthenticationError, PermissionDeniedError
from medwarden.ingest._paho import tls_context
from medwarden.ingest.certs import generate_dev_pki
from medwarden.ingest.mosquitto import read_password_file, revoke_device_credential
from medwarden.ingest.mqtt import BrokerEndpoint
from medwarden.ingest.mqtt_client import MqttDeviceClient
from medwarden.ingest.wire import receipts_topic, records_topic
from tests.ingest.conftest import Broker
from tests.ingest.fakes import FakeIngestPort, signed_chain, wait_until


def _raw_connack(broker: Broker, username: str | None, password: str | None) -> ReasonCode:
    """Connect a bare paho client over TLS and return the broker's CONNACK reason code."""
    got: list[ReasonCode] = []
    done = threading.Event()

    def on_connect(
        client: Client, userdata: Any, flags: ConnectFlags, rc: ReasonCode, props: Properties | None
    ) -> None:
        got.append(rc)
        done.set()

    client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.tls_set_context(tls_context(broker.endpoint.ca_file))
    if username is not None:
        client.username_pw_set(username, password)
    client.on_connect = on_connect
    client.connect(broker.endpoint.host, broker.endpoint.port, 10)
    client.loop_start()
    try:
        assert done.wait(10), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
        getattr(client, "_reset_sockets")()  # noqa: B009 -- see _paho.release_sockets
    return got[0]


def test_config_has_one_listener_and_it_is_tls(broker: Broker) -> None:
    text = (broker.config.persistence_dir.parent / "mosquitto.conf").read_text()
    listeners = [line for line in text.splitlines() if line.startswith(("listener", "port "))]
    assert listeners == [f"listener {broker.config.port} 127.0.0.1"]
    assert "allow_anonymous false" in text.splitlines()
    assert f"certfile {broker.pki.server_cert}" in text.splitlines()


def test_broker_opens_exactly_one_socket(broker: Broker) -> None:
    """Listener options before the listener line would open a plaintext 1883 listener."""
    opened = [line for line in broker.log().splitlines() if "listen socket on port" in line]
    assert len(opened) == 1
    assert opened[0].endswith(f"Opening ipv4 listen socket on port {broker.config.port}.")


def test_plaintext_mqtt_is_refused(broker: Broker) -> None:
    connect = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04dev1"  # MQTT 3.1.1 CONNECT
    with socket.create_connection(("127.0.0.1", broker.config.port), timeout=5) as sock:
        sock.sendall(connect)
        try:
            answer = sock.recv(16)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    assert not answer.startswith(b"\x20")  # never a CONNACK


def test_anonymous_is_refused(broker: Broker) -> None:
    assert _raw_connack(broker, None, None).is_failure


def test_wrong_password_is_refused(broker: Broker) -> None:
    with pytest.raises(AuthenticationError, match="dev-1"):  # noqa: SIM117
        with broker.device("dev-1", password="not-the-password"):
            pass
    assert _raw_connack(broker, "dev-1", "not-the-password").is_failure
    assert _raw_connack(broker, "nobody", "whatever").is_failure


def test_right_password_is_accepted(broker: Broker) -> None:
    assert not _raw_connack(broker, "dev-1", broker.passwords["dev-1"]).is_failure


# paho leaves the half-open TLS socket of a failed handshake to the garbage collector
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_server_certificate_is_checked(broker: Broker, tmp_path: Any) -> None:
    other_ca = generate_dev_pki(tmp_path / "other").ca_cert
    endpoint = BrokerEndpoint(broker.endpoint.host, broker.endpoint.port, other_ca)
    client = MqttDeviceClient(endpoint, "dev-1", broker.passwords["dev-1"], timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        client.connect()
    del caught
    gc.collect()


FORBIDDEN_PUBLISH = [
    records_topic("dev-1"),  # another device's records
    receipts_topic("dev-1"),  # forged receipts for another device
    receipts_topic("dev-2"),  # forged receipts for itself
    "medwarden/v1/devices/dev-2/settings",  # there is no settings topic ...
    "medwarden/v1/devices/dev-1/commands",  # ... and no command topic, for anyone
    "medwarden/v1/devices/+/records".replace("+", "dev-3"),
    "medwarden/v1/other",
]


@pytest.mark.parametrize("topic", FORBIDDEN_PUBLISH)
def test_device_may_publish_only_to_its_own_records_topic(broker: Broker, topic: str) -> None:
    port = FakeIngestPort()
    ingestor = broker.ingestor(port, broker.ingest_settings())
    try:
        with broker.device("dev-2") as intruder, broker.device("dev-1") as device:
            with pytest.raises(PermissionDeniedError, match="Not authorized"):
                intruder.publish_raw(b'{"batch_id": "evil", "records": [{}]}', topic=topic)
            marker = signed_chain(1, boot_id="after-refusal")
            results = device.send_batch(marker)
    finally:
        ingestor.stop()
    assert [r.status for r in results] == ["accepted"]
    assert [device_id for device_id, _ in port.calls] == ["dev-1"]  # nothing from dev-2


SNOOPED = [
    receipts_topic("dev-1"),
    records_topic("dev-1"),
    "medwarden/v1/devices/+/receipts",
    "medwarden/v1/devices/+/records",
    "medwarden/#",
    "#",
]


def test_device_never_receives_another_devices_messages(broker: Broker) -> None:
    """Mosquitto may grant a wider subscription, but checks read access per message."""
    seen: list[str] = []
    subacks = threading.Semaphore(0)
    snoop = Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    snoop.tls_set_context(tls_context(broker.endpoint.ca_file))
    snoop.username_pw_set("dev-2", broker.passwords["dev-2"])
    snoop.on_message = lambda c, u, msg: seen.append(msg.topic)
    snoop.on_subscribe = lambda c, u, mid, codes, props: subacks.release()
    snoop.connect(broker.endpoint.host, broker.endpoint.port, 10)
    snoop.loop_start()
    port = FakeIngestPort()
    ingestor = broker.ingestor(port, broker.ingest_settings())
    try:
        for topic in SNOOPED:
            snoop.subscribe(topic, qos=1)
            assert subacks.acquire(timeout=10)
        with broker.device("dev-1") as device:
            results = device.send_batch(signed_chain(1, boot_id="snooped"))
            assert results[0].status == "accepted"
        with broker.device("dev-2") as other:
            assert other.send_batch(signed_chain(1, device_id="dev-2"))[0].status == "accepted"
    finally:
        ingestor.stop()
        snoop.disconnect()
        snoop.loop_stop()
        getattr(snoop, "_reset_sockets")()  # noqa: B009
    assert all(topic == receipts_topic("dev-2") for topic in seen)
    assert port.calls[0][0] == "dev-1"


def test_ingest_user_cannot_publish_records(broker: Broker) -> None:
    """Even the backend's account cannot inject device records."""
    settings = broker.ingest_settings()
    got: list[ReasonCode] = []
    done = threading.Event()
    client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.tls_set_context(tls_context(broker.endpoint.ca_file))
    client.username_pw_set(settings.credentials.username, settings.credentials.password)

    def on_publish(c: Client, u: Any, mid: int, rc: ReasonCode, p: Properties | None) -> None:
        got.append(rc)
        done.set()

    client.on_publish = on_publish
    client.connect(broker.endpoint.host, broker.endpoint.port, 10)
    client.loop_start()
    try:
        client.publish(records_topic("dev-1"), b"{}", qos=1)
        assert done.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
        getattr(client, "_reset_sockets")()  # noqa: B009
    assert got[0].is_failure


def test_revoked_device_is_cut_off_after_sighup(broker: Broker) -> None:
    port = FakeIngestPort()
    ingestor = broker.ingestor(port, broker.ingest_settings())
    try:
        device = broker.device("dev-revoked")
        device.connect()
        try:
            assert device.send_batch(signed_chain(1, device_id="dev-revoked"))[0].status == (
                "accepted"
            )
            assert revoke_device_credential(
                broker.config.password_file, "dev-revoked", pid=broker.pid
            )
            assert "dev-revoked" not in read_password_file(broker.config.password_file)
            assert wait_until(lambda: not device.connected, 10), broker.log()
            with pytest.raises(ConnectionError):
                device.publish_batch(signed_chain(2, device_id="dev-revoked", boot_id="late"))
        finally:
            device.close()
        with pytest.raises(AuthenticationError):  # noqa: SIM117
            with broker.device("dev-revoked"):
                pass
    finally:
        ingestor.stop()
    assert len(port.calls) == 1
    assert not revoke_device_credential(broker.config.password_file, "dev-revoked")
