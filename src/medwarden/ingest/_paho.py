"""Shared paho-mqtt set-up: an MQTT 5 client over verified TLS with a username and password."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paho.mqtt.client import Client
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from medwarden.errors import ConfigError

__all__ = ["BrokerEndpoint", "Credentials", "new_client", "release_sockets", "tls_context"]


@dataclass(frozen=True, slots=True)
class BrokerEndpoint:
    """Where the broker listens and the CA file its TLS certificate chains to."""

    host: str
    port: int
    ca_file: Path
    keepalive: int = 30

    def __post_init__(self) -> None:
        """Refuse ports outside 1-65535 and keep-alives under 5 s."""
        if not 0 < self.port < 65536:
            raise ConfigError(f"MQTT port {self.port} is not in 1-65535")
        if self.keepalive < 5:
            raise ConfigError("MQTT keep-alive must be at least 5 seconds")


@dataclass(frozen=True, slots=True)
class Credentials:
    """A broker username and password (never printed)."""

    username: str
    password: str = field(repr=False)


def tls_context(ca_file: Path) -> ssl.SSLContext:
    """A client TLS context: TLS 1.2 or newer, server certificate and host name checked."""
    if not Path(ca_file).is_file():
        raise ConfigError(f"MQTT CA file {ca_file} does not exist")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def new_client(
    endpoint: BrokerEndpoint, credentials: Credentials, *, client_id: str, manual_ack: bool
) -> Client:
    """An MQTT 5 client with the VERSION2 callback API, TLS and the given credentials."""
    client = Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        reconnect_on_failure=False,
        manual_ack=manual_ack,
    )
    client.tls_set_context(tls_context(endpoint.ca_file))
    client.username_pw_set(credentials.username, credentials.password)
    client.on_socket_open = _no_delay
    return client


def _no_delay(client: Client, userdata: Any, sock: Any) -> None:
    """Send small packets (PUBACKs, receipts) at once instead of waiting for Nagle."""
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def release_sockets(client: Client) -> None:
    """Close the client's sockets, including the wake-up socket pair.

    paho closes that pair only when the client is garbage-collected, which a reference
    cycle can delay long enough for Python to warn about an unclosed socket.
    """
    reset = getattr(client, "_reset_sockets", None)
    if callable(reset):
        reset()
