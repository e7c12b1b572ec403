"""How simulated devices send their envelopes: HTTPS, MQTT, an in-process port, a file.

Every transport implements :class:`~medwarden.testing.fleet.device.Transport`:
``send(device_id, envelopes) -> results``, with ``envelopes`` the exact wire bytes and one
:class:`~medwarden.telemetry.receipts.IngestResult` per acknowledged envelope.  A
transient failure (network error, timeout, 5xx, 429) returns **no** results, so that the
device retries the same bytes on its next cycle; a definitive refusal of the device's
credential raises (:class:`~medwarden.errors.AuthenticationError` /
:class:`~medwarden.errors.PermissionDeniedError`).

* :class:`HttpsTransport` -- ``POST /api/v1/telemetry/records`` with the device's bearer
  token, ``{"records": [envelope, ...]}`` (at most 1000), TLS verified against a CA file
  or the system store;
* :class:`MqttTransport` -- one :class:`~medwarden.ingest.mqtt_client.MqttDeviceClient`
  per device;
* :class:`InProcessTransport` -- a callable ingest port (tests, benchmarks);
* :class:`JsonlFileTransport` -- appends envelopes to a JSON-lines file; acknowledges
  everything unless it tees to another transport whose results it returns.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from medwarden.errors import (
    AuthenticationError,
    InputError,
    PermissionDeniedError,
    UsageError,
)
from medwarden.telemetry.receipts import IngestResult

__all__ = [
    "RECORDS_PATH",
    "HttpsTransport",
    "InProcessTransport",
    "JsonlFileTransport",
    "MqttTransport",
    "parse_results",
]

RECORDS_PATH = "/api/v1/telemetry/records"

IngestPortLike = Callable[[str, Sequence[object]], Sequence[IngestResult]]
"""``port(device_id, envelopes) -> results`` (see :mod:`medwarden.ingest.ports`)."""


def parse_results(
    payload: bytes, count: int, receipt_key: Ed25519PublicKey | None = None
) -> list[IngestResult]:
    """Read ``{"results": [...]}`` answering ``count`` envelopes; verify receipts if a key."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"ingest answer is not JSON: {exc}") from None
    if not isinstance(value, dict) or not isinstance(value.get("results"), list):
        raise InputError('ingest answer needs a "results" array')
    results = [IngestResult.from_json(r) for r in value["results"]]
    if any(not 0 <= r.index < count for r in results):
        raise InputError("an ingest result names an envelope that was not sent")
    if receipt_key is not None:
        for r in results:
            if r.receipt is not None:
                r.receipt.verify(receipt_key)
    return results


class HttpsTransport:
    """``POST /api/v1/telemetry/records`` per device batch (httpx, TLS verified)."""

    def __init__(
        self,
        base_url: str,
        tokens: Mapping[str, str] | Callable[[str], str],
        *,
        ca_file: str | Path | None = None,
        timeout_s: float = 30.0,
        receipt_key: Ed25519PublicKey | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        if not base_url.startswith(("https://", "http://127.", "http://localhost")):
            raise UsageError(
                f"refusing to send device records over {base_url!r}",
                hint="use https:// (plain http only to a loopback stand-in for tests)",
            )
        self._tokens = tokens
        self._receipt_key = receipt_key
        verify = (
            ssl.create_default_context(cafile=str(ca_file))
            if ca_file is not None
            else ssl.create_default_context()  # the system's trust store
        )
        self._client = client or httpx.Client(
            base_url=base_url.rstrip("/"), verify=verify, timeout=timeout_s
        )

    def _token(self, device_id: str) -> str:
        if callable(self._tokens):
            return self._tokens(device_id)
        try:
            return self._tokens[device_id]
        except KeyError:
            raise UsageError(f"no API token for device {device_id}") from None

    def send(self, device_id: str, envelopes: Sequence[bytes]) -> list[IngestResult]:
        body = b'{"records":[' + b",".join(envelopes) + b"]}"
        try:
            response = self._client.post(
                RECORDS_PATH,
                content=body,
                headers={
                    "Authorization": f"Bearer {self._token(device_id)}",
                    "Content-Type": "application/json",
                },
            )
        except httpx.TransportError:
            return []
        if response.status_code == 401:
            raise AuthenticationError(f"the ingest API refused the token of {device_id}")
        if response.status_code == 403:
            raise PermissionDeniedError(f"device {device_id} may not send records")
        if response.status_code != 200:
            return []
        return parse_results(response.content, len(envelopes), self._receipt_key)

    def close(self) -> None:
        self._client.close()


class MqttTransport:
    """One :class:`~medwarden.ingest.mqtt_client.MqttDeviceClient` connection per device."""

    def __init__(
        self,
        endpoint: Any,
        passwords: Mapping[str, str] | Callable[[str], str],
        *,
        timeout_s: float = 10.0,
        receipt_key: Ed25519PublicKey | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._passwords = passwords
        self._timeout = timeout_s
        self._receipt_key = receipt_key
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, device_id: str) -> Any:
        from medwarden.ingest.mqtt_client import MqttDeviceClient

        with self._lock:
            client = self._clients.get(device_id)
            if client is None:
                pw = (
                    self._passwords(device_id)
                    if callable(self._passwords)
                    else self._passwords[device_id]
                )
                client = MqttDeviceClient(self._endpoint, device_id, pw, timeout=self._timeout)
                client.connect()
                self._clients[device_id] = client
            return client

    def send(self, device_id: str, envelopes: Sequence[bytes]) -> list[IngestResult]:
        try:
            client = self._client(device_id)
            results: list[IngestResult] = client.send_batch([orjson.loads(e) for e in envelopes])
        except (TimeoutError, OSError):
            self._drop(device_id)
            return []
        if self._receipt_key is not None:
            for r in results:
                if r.receipt is not None:
                    r.receipt.verify(self._receipt_key)
        return results

    def _drop(self, device_id: str) -> None:
        with self._lock:
            client = self._clients.pop(device_id, None)
        if client is not None:
            with contextlib.suppress(OSError):
                client.close()

    def close(self) -> None:
        for device_id in list(self._clients):
            self._drop(device_id)


class InProcessTransport:
    """Calls an ingest port directly: ``port(device_id, [envelope objects]) -> results``."""

    def __init__(self, port: IngestPortLike) -> None:
        self._port = port

    def send(self, device_id: str, envelopes: Sequence[bytes]) -> list[IngestResult]:
        return list(self._port(device_id, [orjson.loads(e) for e in envelopes]))

    def close(self) -> None:
        return None


class JsonlFileTransport:
    """Appends every envelope sent, one wire-form line each, to ``path``.

    With ``tee`` the envelopes go on to that transport and its results are returned;
    without it every envelope counts as accepted (an offline sink: the device then never
    retries, so the consequences listed for transit faults do not happen).
    """

    def __init__(self, path: str | Path, *, tee: Any | None = None) -> None:
        self.path = Path(path)
        self._tee = tee
        self._file: IO[bytes] = self.path.open("ab")
        self.lines = 0

    def send(self, device_id: str, envelopes: Sequence[bytes]) -> list[IngestResult]:
        for e in envelopes:
            self._file.write(e + b"\n")
        self.lines += len(envelopes)
        if self._tee is not None:
            return list(self._tee.send(device_id, envelopes))
        return [IngestResult(index=i, status="accepted") for i in range(len(envelopes))]

    def close(self) -> None:
        self._file.close()
        if self._tee is not None:
            self._tee.close()
