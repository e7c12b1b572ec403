"""``medwarden mqtt setup|device-add|device-revoke|ingest``: telemetry over MQTT.

``setup`` writes a self-contained mosquitto directory for development and tests: a dev CA
and server certificate, the ACL (each device may publish only its own records topic and
read only its own receipts), a password file with the ingest service user, and
``mosquitto.conf`` with one TLS listener.  Production operators bring their own
certificates and run the same ACL.  ``ingest`` runs the subscriber that verifies and
stores every batch (the same use case as the HTTPS route) and answers with receipts only
after the commit.  The ingest user's password is read from ``MEDWARDEN_MQTT_PASSWORD``
(never from the command line, never logged).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from medwarden.cli.runtime import open_intel_store, settings_for

__all__ = ["app"]

app = typer.Typer(
    help="Telemetry over MQTT (mosquitto): broker files and the subscriber.", rich_markup_mode=None
)

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."
Dir = Annotated[Path, typer.Argument(help="The broker directory `mqtt setup` wrote.")]


@app.command("setup")
def setup(
    directory: Dir,
    port: Annotated[int, typer.Option(help="TLS listener port.")] = 8883,
    host: Annotated[str, typer.Option(help="Listener address.")] = "127.0.0.1",
    run_as: Annotated[str | None, typer.Option(help="Account mosquitto drops to as root.")] = None,
) -> None:
    """Write dev TLS files, ACL, password file and mosquitto.conf; print the ingest password."""
    from medwarden.ingest.certs import generate_dev_pki
    from medwarden.ingest.mosquitto import (
        DEFAULT_INGEST_USER,
        BrokerConfig,
        add_service_user,
        generate_password,
        write_acl,
        write_config,
    )

    directory.mkdir(parents=True, exist_ok=True)
    pki = generate_dev_pki(directory / "tls")
    password = generate_password()
    add_service_user(directory / "passwords", DEFAULT_INGEST_USER, password=password)
    write_acl(directory / "acl")
    (directory / "data").mkdir(exist_ok=True)
    config = BrokerConfig(
        host=host,
        port=port,
        cafile=pki.ca_cert,
        certfile=pki.server_cert,
        keyfile=pki.server_key,
        password_file=directory / "passwords",
        acl_file=directory / "acl",
        persistence_dir=directory / "data",
        pid_file=directory / "mosquitto.pid",
        run_as=run_as,
    )
    write_config(config, directory / "mosquitto.conf")
    typer.echo(f"start the broker: mosquitto -c {directory / 'mosquitto.conf'}", err=True)
    typer.echo(f"ingest user {DEFAULT_INGEST_USER}; its password (shown once):", err=True)
    typer.echo(password)


def _pid(directory: Path) -> int | None:
    pid_file = directory / "mosquitto.pid"
    return int(pid_file.read_text().strip()) if pid_file.exists() else None


@app.command("device-add")
def device_add(directory: Dir, device_id: str) -> None:
    """Give a device its broker login (username = device id); print its password once."""
    from medwarden.ingest.mosquitto import add_device_credential, generate_password

    password = generate_password()
    add_device_credential(directory / "passwords", device_id, password, pid=_pid(directory))
    typer.echo(password)


@app.command("device-revoke")
def device_revoke(directory: Dir, device_id: str) -> None:
    """Remove a device's broker login (the broker reloads and disconnects it)."""
    from medwarden.ingest.mosquitto import revoke_device_credential

    if not revoke_device_credential(directory / "passwords", device_id, pid=_pid(directory)):
        raise typer.BadParameter(f"device {device_id} has no broker login")
    typer.echo(f"broker login of {device_id} removed", err=True)


@app.command("ingest")
def ingest(
    ca_file: Annotated[Path, typer.Option(help="CA certificate the broker's TLS chains to.")],
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8883,
    username: Annotated[str, typer.Option(help="The ingest service user.")] = "_medwarden-ingest",
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """Subscribe to every device's records topic and ingest until SIGTERM or Ctrl-C."""
    from medwarden.config import read_secret
    from medwarden.core.clock import SystemClock
    from medwarden.errors import ConfigError
    from medwarden.ingest.mqtt import BrokerEndpoint, Credentials, IngestSettings, MqttIngestor
    from medwarden.keys import load_or_create_signer
    from medwarden.services.telemetry import mqtt_port

    password = read_secret("MEDWARDEN_MQTT_PASSWORD")
    if password is None:
        raise ConfigError("set MEDWARDEN_MQTT_PASSWORD to the ingest user's broker password")
    settings = settings_for(db)
    signer = load_or_create_signer(settings.ledger_key_path)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with open_intel_store(settings, create=False) as store:
        port_fn = mqtt_port(store.ledger, signer, clock=SystemClock())
        endpoint = BrokerEndpoint(host, port, ca_file=ca_file)
        with MqttIngestor(
            IngestSettings(endpoint, Credentials(username, password)), port_fn
        ) as sub:
            if not sub.wait_subscribed(30):
                raise ConfigError(f"could not subscribe at {host}:{port} within 30 s")
            typer.echo(f"ingesting from mqtts://{host}:{port}", err=True)
            stop.wait()
