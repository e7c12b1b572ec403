"""``medwarden device ...``: the device registry, keys, credentials and security events.

``device register`` and ``device credential`` print the device's HTTPS credential
(``mwd_...``) on standard output, once: only its SHA-256 is stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from medwarden.cli.commands import warnings as _warnings
from medwarden.cli.runtime import actor_name, open_intel_store, settings_for

__all__ = ["app"]

app = typer.Typer(
    help="Register devices, manage their keys and credentials, read their security events.",
    rich_markup_mode=None,
)
model_app = typer.Typer(help="Device models and their check limits.", rich_markup_mode=None)
key_app = typer.Typer(help="Enroll, rotate and revoke device signing keys.", rich_markup_mode=None)
app.add_typer(model_app, name="model")
app.add_typer(key_app, name="key")

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."
_ACTOR_HELP = "Who runs this, for the audit trail (default: the OS user name)."
Db = Annotated[str | None, typer.Option(help=_DB_HELP)]
Actor = Annotated[str | None, typer.Option(help=_ACTOR_HELP)]


@model_app.command("set")
def model_set(
    name: Annotated[str, typer.Argument(help="Model name, e.g. aid-pump-x2.")],
    limits: Annotated[
        Path | None, typer.Option(help="JSON file of check-limit overrides (docs/checks.md).")
    ] = None,
    db: Db = None,
    actor: Actor = None,
) -> None:
    """Create or update a device model and its check limits."""
    from medwarden.core.clock import SystemClock

    values = json.loads(limits.read_text(encoding="utf-8")) if limits else {}
    if not isinstance(values, dict):
        raise typer.BadParameter("the limits file must hold a JSON object")
    with open_intel_store(settings_for(db), create=True) as store:
        store.devices.set_model(name, values, at=SystemClock().now(), actor=actor_name(actor))
    typer.echo(f"device model {name} saved", err=True)


@app.command("register", no_args_is_help=True)
def register(
    device_id: Annotated[str, typer.Argument(help="The device's id (as it signs its records).")],
    model: Annotated[str, typer.Option(help="Its device model.")],
    serial: Annotated[str, typer.Option(help="Its serial number.")],
    software_version: Annotated[str, typer.Option(help="Its software version.")],
    firmware_version: Annotated[str | None, typer.Option()] = None,
    controller: Annotated[
        str | None,
        typer.Option(help="Controller ALGORITHM@VERSION, e.g. oref0-determine-basal@0.7.1."),
    ] = None,
    release: Annotated[
        str | None, typer.Option(help="PRODUCT@VERSION whose SBOM the device runs.")
    ] = None,
    patient_ref: Annotated[
        str | None, typer.Option(help="A pseudonymous patient reference.")
    ] = None,
    public_key: Annotated[
        str | None, typer.Option(help="Its Ed25519 public key (32 bytes, base64url) to enroll.")
    ] = None,
    db: Db = None,
    actor: Actor = None,
) -> None:
    """Register a device (and enroll its key); print its HTTPS credential once."""
    from medwarden.core.clock import SystemClock
    from medwarden.services.telemetry import register_device
    from medwarden.telemetry.devices import DeviceRegistration

    algorithm, _, version = (controller or "").partition("@")
    product, _, release_version = (release or "").partition("@")
    reg = DeviceRegistration(
        device_id=device_id,
        model=model,
        serial=serial,
        software_version=software_version,
        firmware_version=firmware_version,
        controller_algorithm=algorithm or None,
        controller_version=version or None,
        product=product or None,
        release=release_version or None,
        patient_ref=patient_ref,
    )
    clock, who = SystemClock(), actor_name(actor)
    with open_intel_store(settings_for(db), create=True) as store:
        issued = register_device(store.devices, reg, clock=clock, actor=who)
        if public_key:
            store.devices.enroll_key(device_id, _raw_key(public_key), at=clock.now(), actor=who)
    typer.echo(f"device {device_id} registered; its credential (shown once):", err=True)
    typer.echo(issued.secret)


def _raw_key(text: str) -> bytes:
    from medwarden.core.b64 import b64url_decode

    try:
        data = b64url_decode(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if len(data) != 32:
        raise typer.BadParameter(f"an Ed25519 public key is 32 bytes, not {len(data)}")
    return data


@app.command("credential")
def credential(device_id: str, db: Db = None, actor: Actor = None) -> None:
    """Replace a device's HTTPS credential; print the new one once."""
    from medwarden.core.clock import SystemClock
    from medwarden.services.telemetry import issue_credential

    with open_intel_store(settings_for(db), create=False) as store:
        issued = issue_credential(
            store.devices, device_id, clock=SystemClock(), actor=actor_name(actor)
        )
    typer.echo(issued.secret)


@app.command("list")
def list_devices(
    software_version: Annotated[str | None, typer.Option()] = None,
    component: Annotated[
        str | None, typer.Option(help="Only devices whose SBOM holds this component identity.")
    ] = None,
    db: Db = None,
) -> None:
    """List registered devices (as JSON lines)."""
    from dataclasses import asdict

    with open_intel_store(settings_for(db), create=False) as store:
        if component is not None:
            found = store.devices.running_component(component)
        else:
            found = store.devices.all(software_version=software_version)
    for reg in found:
        typer.echo(json.dumps(asdict(reg), sort_keys=True))


@key_app.command("enroll")
def key_enroll(device_id: str, public_key: str, db: Db = None, actor: Actor = None) -> None:
    """Enroll a device's first key."""
    from medwarden.core.clock import SystemClock

    with open_intel_store(settings_for(db), create=False) as store:
        kid = store.devices.enroll_key(
            device_id, _raw_key(public_key), at=SystemClock().now(), actor=actor_name(actor)
        )
    typer.echo(kid)


@key_app.command("rotate")
def key_rotate(device_id: str, public_key: str, db: Db = None, actor: Actor = None) -> None:
    """Make a new key active; the old one still verifies records made before now."""
    from medwarden.core.clock import SystemClock

    with open_intel_store(settings_for(db), create=False) as store:
        kid = store.devices.rotate_key(
            device_id, _raw_key(public_key), at=SystemClock().now(), actor=actor_name(actor)
        )
    typer.echo(kid)


@key_app.command("revoke")
def key_revoke(
    device_id: str,
    key_id: str,
    reason: Annotated[str, typer.Option(help="Why (audited).")],
    db: Db = None,
    actor: Actor = None,
) -> None:
    """Revoke a key: nothing it signs is accepted from now on."""
    from medwarden.core.clock import SystemClock

    with open_intel_store(settings_for(db), create=False) as store:
        store.devices.revoke_key(
            device_id, key_id, at=SystemClock().now(), actor=actor_name(actor), reason=reason
        )
    typer.echo(f"key {key_id} of {device_id} revoked", err=True)


@app.command("events")
def events(
    device_id: Annotated[str | None, typer.Argument()] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
    db: Db = None,
) -> None:
    """Security events (rejected envelopes, chain findings), oldest first, as JSON lines."""
    with open_intel_store(settings_for(db), create=False) as store:
        found = store.ledger.events(device_id, limit=limit)
    for event in found:
        event["received_at"] = event["received_at"].isoformat()
        typer.echo(json.dumps(event, sort_keys=True))


@app.command("timeline")
def timeline(
    device_id: str,
    start: Annotated[str, typer.Option("--from", help="Window start, ISO 8601 (UTC if no zone).")],
    end: Annotated[str, typer.Option("--to", help="Window end, ISO 8601 (exclusive).")],
    fmt: Annotated[str, typer.Option("--format", help="json or fhir (an R4 Bundle).")] = "json",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    db: Db = None,
) -> None:
    """The verified timeline of a device for a window, as JSON or a FHIR R4 Bundle."""
    from datetime import datetime

    from medwarden.core.clock import ensure_utc
    from medwarden.services.device_timeline import device_timeline
    from medwarden.telemetry.fhir import fhir_bundle_bytes
    from medwarden.telemetry.timeline import timeline_to_json_bytes

    if fmt not in {"json", "fhir"}:
        raise typer.BadParameter("--format is json or fhir")
    window = [ensure_utc(datetime.fromisoformat(t)) for t in (start, end)]
    with open_intel_store(settings_for(db), create=False) as store:
        built = device_timeline(store.devices, store.timeline, device_id, *window)
    data = fhir_bundle_bytes(built) if fmt == "fhir" else timeline_to_json_bytes(built)
    if output is None:
        typer.echo(data.decode("utf-8"))
    else:
        output.write_bytes(data)


@app.command("simulate")
def simulate(
    devices: Annotated[int, typer.Option(min=1, help="Simulated devices.")] = 20,
    hours: Annotated[float, typer.Option(min=0.1, help="Simulated hours (5-minute loops).")] = 24.0,
    seed: Annotated[int, typer.Option(help="Seed: same seed, same bytes.")] = 1,
    controller: Annotated[
        str, typer.Option(help="oref0 (the real one, via Node) or standin.")
    ] = "oref0",
    transport: Annotated[
        str, typer.Option(help="jsonl, https, mqtt, memory (in-process backend) or none.")
    ] = "jsonl",
    output: Annotated[Path | None, typer.Option(help="jsonl: the envelopes file.")] = None,
    truth_output: Annotated[
        Path | None, typer.Option(help="Ground truth of injected faults (JSON lines).")
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(help="DEVICE:KIND@CYCLE (repeatable); KIND as in docs/simulator.md."),
    ] = None,
    restart: Annotated[list[str] | None, typer.Option(help="DEVICE_INDEX@CYCLE")] = None,
    live_clock: Annotated[
        bool, typer.Option(help="Start the devices' clocks now (for a live backend).")
    ] = False,
    url: Annotated[str | None, typer.Option(help="https: the medwarden base URL.")] = None,
    ca_file: Annotated[Path | None, typer.Option(help="https/mqtt: the server's CA.")] = None,
    tokens_file: Annotated[
        Path | None, typer.Option(help="https: JSON {device_id: credential}.")
    ] = None,
    mqtt_host: Annotated[str, typer.Option()] = "127.0.0.1",
    mqtt_port: Annotated[int, typer.Option()] = 8883,
    passwords_file: Annotated[
        Path | None, typer.Option(help="mqtt: JSON {device_id: broker password}.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes to spread devices over.")] = 1,
) -> None:
    """Run the reference fleet (simglucose patients, CGM, pump, oref0), signing and sending."""
    from datetime import UTC, datetime

    from medwarden.testing.fleet.cli import simulate as run

    summary = run(
        devices=devices,
        hours=hours,
        seed=seed,
        controller=controller,
        transport=transport,
        output=output,
        truth_output=truth_output,
        faults=fault or (),
        restarts=restart or (),
        start=datetime.now(UTC) if live_clock else None,
        url=url,
        ca_file=ca_file,
        tokens_file=tokens_file,
        mqtt_host=mqtt_host,
        mqtt_port=mqtt_port,
        passwords_file=passwords_file,
        workers=workers,
    )
    typer.echo(json.dumps(summary, sort_keys=True, indent=2))


@app.command("simulated-keys")
def simulated_keys(
    seed: Annotated[int, typer.Option()] = 1,
    devices: Annotated[int, typer.Option(min=1)] = 20,
) -> None:
    """The simulated fleet's device ids and public keys (JSON lines), to register them."""
    from medwarden.testing.fleet.cli import export_devices

    for entry in export_devices(seed, devices):
        typer.echo(json.dumps(entry, sort_keys=True))


# `device warnings|check|ack`: early warnings (docs/warnings.md)
_warnings.mount(app)
