"""A device-side MQTT client: publish signed batches, wait for their receipts.

For simulated devices (the fleet simulator) and tests; a real device implements the same
protocol (see ``docs/mqtt.md``)::

    endpoint = BrokerEndpoint("127.0.0.1", 8883, ca_file=Path("ca.pem"))
    with MqttDeviceClient(endpoint, "pump-0001", password) as device:
        results = device.send_batch([signed_record, ...])   # list[IngestResult]

:meth:`MqttDeviceClient.connect` raises :class:`~medwarden.errors.AuthenticationError`
when the broker refuses the credentials; a publish or subscribe the ACL refuses raises
:class:`~medwarden.errors.PermissionDeniedError`; a publish after the broker dropped the
connection (e.g. the credential was revoked) raises :class:`ConnectionError` (the client
does not reconnect by itself: connect a new one); no receipt in time raises
:class:`TimeoutError` (then send the same batch again: the backend answers ``duplicate``
with the original receipts).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from medwarden.errors import (
    AuthenticationError,
    InputError,
    InputTooLargeError,
    PermissionDeniedError,
)
from medwarden.ingest._paho import BrokerEndpoint, Credentials, new_client, release_sockets
from medwarden.ingest.wire import (
    MAX_BATCH_RECORDS,
    check_device_id,
    decode_receipts,
    encode_batch,
    receipts_topic,
    records_topic,
)
from medwarden.telemetry.envelope import SignedRecord
from medwarden.telemetry.receipts import IngestResult

__all__ = ["BrokerEndpoint", "MqttDeviceClient"]

log = logging.getLogger(__name__)

Envelope = SignedRecord | Mapping[str, Any]
"""A signed record, or its wire form as a JSON object."""


class MqttDeviceClient:
    """One device's connection: its records topic out, its receipts topic in."""

    def __init__(
        self,
        endpoint: BrokerEndpoint,
        device_id: str,
        password: str,
        *,
        timeout: float = 10.0,
    ) -> None:
        """Prepare the client (the broker uses ``device_id`` as username and client id)."""
        self.device_id = check_device_id(device_id)
        self._endpoint = endpoint
        self._timeout = timeout
        self._client: Client = new_client(
            endpoint,
            Credentials(device_id, password),
            client_id=device_id,
            manual_ack=False,
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._cond = threading.Condition()
        self._connack: ReasonCode | None = None
        self._connected = False
        self._acks: dict[int, ReasonCode] = {}
        self._receipts: list[tuple[str | None, list[IngestResult]]] = []

    # -- connection -------------------------------------------------------------------

    def connect(self) -> None:
        """Connect over TLS and subscribe to the device's receipts topic."""
        self._client.connect(
            self._endpoint.host, self._endpoint.port, self._endpoint.keepalive, clean_start=True
        )
        self._client.loop_start()
        with self._cond:
            if not self._cond.wait_for(lambda: self._connack is not None, self._timeout):
                self.close()
                raise TimeoutError(f"no answer from the MQTT broker for {self.device_id}")
            connack = self._connack
        if connack is not None and connack.is_failure:
            self.close()
            raise AuthenticationError(
                f"the MQTT broker refused device {self.device_id}: {connack.getName()}",
                hint="check the device's broker credential (revoked or wrong password?)",
            )
        self.subscribe(receipts_topic(self.device_id))

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()
        release_sockets(self._client)

    @property
    def connected(self) -> bool:
        """True while the broker has the connection open."""
        return self._connected

    def __enter__(self) -> MqttDeviceClient:
        """Connect on entering a ``with`` block."""
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close on leaving it."""
        self.close()

    # -- sending ----------------------------------------------------------------------

    def send_batch(
        self,
        envelopes: Sequence[Envelope],
        *,
        batch_id: str | None = None,
        timeout: float | None = None,
    ) -> list[IngestResult]:
        """Publish one batch and wait for its results (one per envelope, in order)."""
        sent = self.publish_batch(envelopes, batch_id=batch_id)
        return self.wait_results(sent, timeout)

    def publish_batch(self, envelopes: Sequence[Envelope], *, batch_id: str | None = None) -> str:
        """Publish one batch (QoS 1, broker-acknowledged) and return its batch id."""
        if not envelopes:
            raise InputError("a batch needs at least one envelope")
        if len(envelopes) > MAX_BATCH_RECORDS:
            raise InputTooLargeError(f"a batch holds at most {MAX_BATCH_RECORDS} envelopes")
        chosen = batch_id if batch_id is not None else uuid.uuid4().hex
        wire = [e.to_json() if isinstance(e, SignedRecord) else dict(e) for e in envelopes]
        self.publish_raw(encode_batch(chosen, wire))
        return chosen

    def publish_raw(self, payload: bytes, *, topic: str | None = None) -> None:
        """Publish ``payload`` with QoS 1 (default: own records topic); wait for the PUBACK."""
        target = topic if topic is not None else records_topic(self.device_id)
        info = self._client.publish(target, payload, qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"device {self.device_id} is not connected to the MQTT broker")
        with self._cond:
            if not self._cond.wait_for(lambda: info.mid in self._acks, self._timeout):
                raise TimeoutError(f"the MQTT broker did not acknowledge a publish to {target}")
            code = self._acks.pop(info.mid)
        if code.is_failure:
            raise PermissionDeniedError(
                f"the MQTT broker refused {self.device_id}'s publish to {target}: {code.getName()}"
            )

    def subscribe(self, topic: str) -> None:
        """Subscribe with QoS 1 and wait for the SUBACK; raise if the ACL refuses."""
        rc, mid = self._client.subscribe(topic, qos=1)
        if mid is None:
            raise ConnectionError(f"cannot subscribe to {topic}: {rc}")
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self._acks, self._timeout):
                raise TimeoutError(f"the MQTT broker did not answer a subscribe to {topic}")
            code = self._acks.pop(mid)
        if code.is_failure:
            raise PermissionDeniedError(
                f"the MQTT broker refused {self.device_id}'s subscription to {topic}: "
                f"{code.getName()}"
            )

    def wait_results(
        self, batch_id: str | None, timeout: float | None = None
    ) -> list[IngestResult]:
        """Wait for the receipts message answering ``batch_id`` (None: an unreadable batch)."""
        deadline = time.monotonic() + (self._timeout if timeout is None else timeout)
        with self._cond:
            while True:
                for i, (answered, results) in enumerate(self._receipts):
                    if answered == batch_id:
                        del self._receipts[i]
                        return results
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no receipts for batch {batch_id!r} in time")
                self._cond.wait(left)

    # -- paho callbacks ---------------------------------------------------------------

    def _on_connect(
        self,
        client: Client,
        userdata: Any,
        flags: ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._cond:
            self._connack = reason_code
            self._connected = not reason_code.is_failure
            self._cond.notify_all()

    def _on_disconnect(
        self,
        client: Client,
        userdata: Any,
        flags: DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._cond:
            self._connected = False
            self._cond.notify_all()

    def _on_publish(
        self,
        client: Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._record_ack(mid, reason_code)

    def _on_subscribe(
        self,
        client: Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        failed = [code for code in reason_codes if code.is_failure]
        self._record_ack(mid, failed[0] if failed else reason_codes[0])

    def _record_ack(self, mid: int, code: ReasonCode) -> None:
        with self._cond:
            self._acks[mid] = code
            self._cond.notify_all()

    def _on_message(self, client: Client, userdata: Any, message: MQTTMessage) -> None:
        try:
            answer = decode_receipts(bytes(message.payload))
        except InputError as exc:
            log.warning("device %s got an unreadable receipts message: %s", self.device_id, exc)
            return
        with self._cond:
            self._receipts.append(answer)
            self._cond.notify_all()
