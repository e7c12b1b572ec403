"""A real mosquitto per test module: TLS certificates, password file and ACL made by medwarden."""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from medwarden.core.backoff import BackoffPolicy
from medwarden.ingest.certs import DevPki, generate_dev_pki
from medwarden.ingest.mosquitto import (
    BrokerConfig,
    add_device_credential,
    generate_password,
    write_acl,
    write_config,
)
from medwarden.ingest.mqtt import BrokerEndpoint, Credentials, IngestSettings, MqttIngestor
from medwarden.ingest.mqtt_client import MqttDeviceClient
from medwarden.ingest.ports import IngestPort

DEVICES = ("dev-1", "dev-2", "dev-3", "dev-revoked", "dev-bench")
INGEST_USERS = tuple(f"_ingest-{n}" for n in range(1, 41))
"""One ingest account per test, so that no test resumes another's persistent session."""


def find_tool(name: str) -> str:
    """The path of a mosquitto program, or fail the test with an install hint."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        pytest.fail(
            f"{name} is not installed: the MQTT tests need Debian's mosquitto "
            "(apt-get install mosquitto mosquitto-clients)",
            pytrace=False,
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Broker:
    """A running mosquitto and what tests need to talk to it."""

    process: subprocess.Popen[bytes]
    endpoint: BrokerEndpoint
    pki: DevPki
    config: BrokerConfig
    passwords: dict[str, str]
    _users: Iterator[str] = field(default_factory=lambda: iter(INGEST_USERS))

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        path = self.config.log_file
        return path.read_text(errors="replace") if path and path.exists() else ""

    def device(self, device_id: str, password: str | None = None) -> MqttDeviceClient:
        """A device client, not yet connected: use it in a ``with`` block."""
        return MqttDeviceClient(
            self.endpoint, device_id, password or self.passwords[device_id], timeout=10
        )

    def ingest_settings(self, user: str | None = None, **overrides: object) -> IngestSettings:
        """Settings for an ingest account; a fresh one unless ``user`` is given."""
        name = user if user is not None else next(self._users)
        values: dict[str, object] = {
            "endpoint": self.endpoint,
            "credentials": Credentials(name, self.passwords[name]),
            "client_id": name,
            "session_expiry": 300,
            "backoff": BackoffPolicy(
                base=timedelta(milliseconds=100), cap=timedelta(seconds=1), max_attempts=1
            ),
        }
        values.update(overrides)
        return IngestSettings(**values)  # type: ignore[arg-type]

    def ingestor(self, port: IngestPort, settings: IngestSettings) -> MqttIngestor:
        """A started ingestor whose subscription the broker confirmed."""
        ingestor = MqttIngestor(settings, port)
        ingestor.start()
        if not ingestor.wait_subscribed(10):
            ingestor.stop()
            pytest.fail(f"ingestor did not subscribe; broker log:\n{self.log()}")
        return ingestor


def _write_password_file(path: Path, passwords: dict[str, str]) -> None:
    """Ingest accounts via ``mosquitto_passwd -b``, devices via medwarden's own hashing."""
    passwd = find_tool("mosquitto_passwd")
    for index, user in enumerate(INGEST_USERS):
        args = [passwd, *(["-c"] if index == 0 else []), "-b", str(path), user, passwords[user]]
        subprocess.run(args, check=True, capture_output=True, timeout=10)
    for device in DEVICES:
        add_device_credential(path, device, passwords[device])


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mosquitto exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"mosquitto did not listen on {port}:\n{log.read_text()}")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """Start mosquitto on a free port with generated certs, password file and ACL."""
    mosquitto = find_tool("mosquitto")
    root = tmp_path_factory.mktemp("mqtt")
    (root / "data").mkdir()
    pki = generate_dev_pki(root / "tls")
    passwords = {name: generate_password() for name in (*INGEST_USERS, *DEVICES)}
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
        max_packet_size=256 * 1024,
    )
    _write_password_file(config.password_file, passwords)
    write_acl(config.acl_file, INGEST_USERS)
    conf = write_config(config, root / "mosquitto.conf")
    assert config.log_file is not None
    process = subprocess.Popen(
        [mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_listening(process, config.port, config.log_file)
        yield Broker(
            process=process,
            endpoint=BrokerEndpoint("127.0.0.1", config.port, pki.ca_cert, keepalive=10),
            pki=pki,
            config=config,
            passwords=passwords,
        )
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


_counter = itertools.count()


@pytest.fixture
def unique() -> str:
    """A short unique text for batch ids."""
    return f"b{next(_counter)}-{os.getpid()}"
