"""The backend's MQTT subscriber: device batches in, receipts out, acknowledged after commit.

:class:`MqttIngestor` connects as the ingest user over TLS (MQTT 5, persistent session:
``clean_start=False`` and a session expiry), subscribes to
``medwarden/v1/devices/+/records`` with QoS 1 and acknowledges each message *manually*:

1. the network thread queues each delivery for one worker thread (order is kept);
2. the worker checks the frame (size before parsing, then shape) and calls the ingest port
   with the device id from the topic, which the broker's ACL ties to the authenticated
   username;
3. when the port returned (the batch is committed) it publishes the receipts message on
   ``medwarden/v1/devices/{device_id}/receipts`` (QoS 1) and only then sends the PUBACK.

A malformed frame and a definitive port error (see :mod:`medwarden.ingest.ports`) are
answered with one rejected result and acknowledged.  Any other port error (the database is
down) is *not* acknowledged: the ingestor drops the connection, waits (exponential back-off
with jitter) and reconnects; the broker then delivers every unacknowledged message again.
A process that dies before committing has the same effect once it (or a successor with
the same credentials) reconnects.  Delivery is therefore at least once; the port is
idempotent and answers a repeated record ``duplicate`` with the original receipt.

Nothing is logged of payloads or credentials: device ids, batch ids, counts and error codes.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from medwarden.errors import InputError, MedwardenError, UsageError
from medwarden.ingest._paho import BrokerEndpoint, Credentials, new_client, release_sockets
from medwarden.ingest.ports import IngestPort, is_definitive, rejected
from medwarden.ingest.settings import IngestSettings, IngestStats
from medwarden.ingest.wire import (
    RECORDS_FILTER,
    batch_from_json,
    batch_id_of,
    device_id_from_topic,
    encode_receipts,
    parse_payload,
    receipts_topic,
)
from medwarden.telemetry.receipts import IngestResult

__all__ = ["BrokerEndpoint", "Credentials", "IngestSettings", "IngestStats", "MqttIngestor"]

log = logging.getLogger(__name__)

_NOT_LIVE = -1


@dataclass(frozen=True, slots=True)
class _Delivery:
    generation: int
    mid: int
    qos: int
    topic: str
    payload: bytes
    retain: bool


class _Outcome(Enum):
    DONE = "done"
    RETRY = "retry"


class MqttIngestor:
    """Subscribe to device batches, hand them to the ingest port, answer with receipts."""

    def __init__(self, settings: IngestSettings, port: IngestPort) -> None:
        """Prepare the client; nothing connects before :meth:`start`."""
        self._settings = settings
        self._port = port
        self._client: Client = new_client(
            settings.endpoint,
            settings.credentials,
            client_id=settings.client_id or settings.credentials.username,
            manual_ack=True,
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._queue: queue.Queue[_Delivery | None] = queue.Queue()
        self._lock = threading.Lock()
        self._generation = 0
        self._live = _NOT_LIVE
        self._attempt = 0
        self._failures = 0
        self._stats = IngestStats()
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._closing = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the network and worker threads; connection failures are retried."""
        if self._threads:
            raise UsageError("this ingestor was already started")
        self._threads = [
            threading.Thread(target=self._run_network, name="mqtt-ingest-net", daemon=True),
            threading.Thread(target=self._run_worker, name="mqtt-ingest-worker", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand, disconnect cleanly; queued batches stay unacknowledged."""
        self._stopping.set()
        self._queue.put(None)
        if self._threads:
            self._threads[1].join(timeout)
        self._closing.set()
        self._wake.set()
        if self._threads:
            self._threads[0].join(timeout)

    def wait_subscribed(self, timeout: float) -> bool:
        """Wait until the records subscription is confirmed by the broker."""
        return self._subscribed.wait(timeout)

    @property
    def stats(self) -> IngestStats:
        """A snapshot of the counters."""
        return self._stats

    def __enter__(self) -> MqttIngestor:
        """Start on entering a ``with`` block."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop on leaving it."""
        self.stop()

    # -- network thread ---------------------------------------------------------------

    def _run_network(self) -> None:
        while not self._closing.is_set():
            self._wake.clear()
            try:
                if self._connect():
                    self._serve()
            except Exception as exc:  # paho or the socket failed in an unforeseen way
                log.error("MQTT network loop error: %s", type(exc).__name__)
            if self._closing.is_set():
                break
            self._attempt += 1
            wait = self._settings.backoff.wait(max(self._attempt, self._failures))
            log.info("MQTT ingest reconnects in %.1f s", wait.total_seconds())
            self._closing.wait(wait.total_seconds())

    def _connect(self) -> bool:
        endpoint = self._settings.endpoint
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._settings.session_expiry
        try:
            self._client.connect(
                endpoint.host,
                endpoint.port,
                endpoint.keepalive,
                clean_start=False,
                properties=properties,
            )
        except OSError as exc:
            log.warning(
                "MQTT connect to %s:%d failed: %s", endpoint.host, endpoint.port, exc.strerror
            )
            return False
        return True

    def _serve(self) -> None:
        """Run paho's network thread until the connection is lost, a retry or a stop."""
        self._client.loop_start()
        while not self._wake.wait(0.5) and not self._closing.is_set():
            pass
        self._mark_not_live()
        self._client.disconnect()
        self._client.loop_stop()
        release_sockets(self._client)

    def _mark_not_live(self) -> None:
        with self._lock:
            self._live = _NOT_LIVE
        self._subscribed.clear()

    # -- paho callbacks (network thread) ----------------------------------------------

    def _on_connect(
        self,
        client: Client,
        userdata: Any,
        flags: ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error("MQTT broker refused the ingest connection: %s", reason_code.getName())
            self._wake.set()
            return
        with self._lock:
            self._generation += 1
            self._live = self._generation
        self._attempt = 0
        log.info("MQTT ingest connected (session present: %s)", flags.session_present)
        client.subscribe(RECORDS_FILTER, qos=1)

    def _on_subscribe(
        self,
        client: Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if any(code.is_failure for code in reason_codes):
            log.error("MQTT broker refused the records subscription (check the ACL)")
            return
        self._subscribed.set()

    def _on_disconnect(
        self,
        client: Client,
        userdata: Any,
        flags: DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._mark_not_live()
        self._wake.set()
        log.info("MQTT ingest disconnected: %s", reason_code.getName())

    def _on_message(self, client: Client, userdata: Any, message: MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = ""
        self._queue.put(
            _Delivery(
                generation=self._live,
                mid=message.mid,
                qos=message.qos,
                topic=topic,
                payload=bytes(message.payload),
                retain=bool(message.retain),
            )
        )

    # -- worker thread ----------------------------------------------------------------

    def _run_worker(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None or self._stopping.is_set():
                return
            if not self._is_live(delivery.generation):
                continue  # its connection is gone: the broker delivers it again
            try:
                outcome = self._handle(delivery)
            except Exception as exc:  # a bug must not lose the message or kill the worker
                log.error("MQTT ingest failed unexpectedly: %s", type(exc).__name__)
                outcome = _Outcome.RETRY
            if outcome is _Outcome.RETRY:
                self._request_retry(delivery.generation)

    def _is_live(self, generation: int) -> bool:
        with self._lock:
            return generation == self._live != _NOT_LIVE

    def _request_retry(self, generation: int) -> None:
        self._failures += 1
        self._stats = self._stats.bump(retries=1)
        with self._lock:
            if generation != self._live:
                return
            self._live = _NOT_LIVE
        self._wake.set()

    def _handle(self, delivery: _Delivery) -> _Outcome:
        device_id = device_id_from_topic(delivery.topic)
        if device_id is None or delivery.retain:
            log.warning("MQTT ingest dropped a message on an unexpected topic or retained")
            self._ack(delivery)
            return _Outcome.DONE
        value: object = None
        try:
            value = parse_payload(delivery.payload, max_bytes=self._settings.max_payload_bytes)
            batch = batch_from_json(value, max_records=self._settings.max_records)
        except InputError as exc:
            log.info("MQTT batch from %s rejected: %s", device_id, exc.code)
            return self._answer(
                delivery, device_id, batch_id_of(value), [rejected(exc)], whole=True
            )
        try:
            results = self._port(device_id, batch.records)
        except Exception as exc:
            if not (is_definitive(exc) and isinstance(exc, MedwardenError)):
                log.warning(
                    "MQTT batch %r from %s not stored (%s); left unacknowledged for redelivery",
                    batch.batch_id,
                    device_id,
                    exc.code if isinstance(exc, MedwardenError) else type(exc).__name__,
                )
                return _Outcome.RETRY
            log.info("MQTT batch %r from %s rejected: %s", batch.batch_id, device_id, exc.code)
            self._failures = 0
            return self._answer(delivery, device_id, batch.batch_id, [rejected(exc)], whole=True)
        self._failures = 0
        return self._answer(delivery, device_id, batch.batch_id, results)

    def _answer(
        self,
        delivery: _Delivery,
        device_id: str,
        batch_id: str | None,
        results: Sequence[IngestResult],
        *,
        whole: bool = False,
    ) -> _Outcome:
        payload = encode_receipts(batch_id, results)
        self._ack(delivery, (receipts_topic(device_id), payload))
        self._stats = self._stats.bump(answered=1, rejected=int(whole))
        return _Outcome.DONE

    def _ack(self, delivery: _Delivery, receipt: tuple[str, bytes] | None = None) -> None:
        """Publish the receipt, then acknowledge, on the connection the message came on.

        When that connection is gone neither happens: the broker delivers the message again
        and the port answers ``duplicate``.  paho writes both from its network thread.
        """
        with self._lock:
            if delivery.generation != self._live:
                return
            if receipt is not None:
                self._client.publish(receipt[0], receipt[1], qos=1)
            self._client.ack(delivery.mid, delivery.qos)
