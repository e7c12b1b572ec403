"""A real mosquitto for end-to-end tests: dev TLS, ACL, an ingest login and device logins."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
from medwarden.ingest.mqtt import BrokerEndpoint, Credentials
from tests.ingest.conftest import find_tool
from tests.ops_helpers import free_port


@dataclass(frozen=True)
class RunningBroker:
    """Where the broker listens and the logins it knows."""

    endpoint: BrokerEndpoint
    ingest: Credentials
    passwords: dict[str, str]
    """Broker password of each device (username = device id)."""


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mosquitto did not start: {log.read_text(errors='replace')}")
            time.sleep(0.05)


@contextmanager
def running_broker(
    root: Path, devices: Iterable[str], *, max_packet_size: int = 8 * 1024 * 1024
) -> Iterator[RunningBroker]:
    """Start mosquitto with files written by medwarden's own generators; stop it after."""
    (root / "data").mkdir(parents=True)
    pki = generate_dev_pki(root / "tls")
    ingest_password = generate_password()
    passwords = {device_id: generate_password() for device_id in devices}
    add_service_user(root / "passwords", DEFAULT_INGEST_USER, password=ingest_password)
    for device_id, password in passwords.items():
        add_device_credential(root / "passwords", device_id, password)
    write_acl(root / "acl")
    config = BrokerConfig(
        host="127.0.0.1",
        port=free_port(),
        cafile=pki.ca_cert,
        certfile=pki.server_cert,
        keyfile=pki.server_key,
        password_file=root / "passwords",
        acl_file=root / "acl",
        persistence_dir=root / "data",
        log_file=root / "mosquitto.log",
        run_as=pwd.getpwuid(os.getuid()).pw_name,
        max_packet_size=max_packet_size,
    )
    conf = write_config(config, root / "mosquitto.conf")
    process = subprocess.Popen(
        [find_tool("mosquitto"), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(process, config.port, root / "mosquitto.log")
        yield RunningBroker(
            BrokerEndpoint("127.0.0.1", config.port, pki.ca_cert, keepalive=30),
            Credentials(DEFAULT_INGEST_USER, ingest_password),
            passwords,
        )
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
