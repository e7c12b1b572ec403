"""The bodies of ``medwarden device simulate``: plain functions with typed arguments.

The Typer wiring lives in :mod:`medwarden.cli`; these functions do the work and return
JSON-ready summaries, so that they are tested without the CLI layer.

* :func:`simulate` -- run a fleet and send its records (``jsonl``, ``https``, ``mqtt``,
  ``memory`` for the in-process reference backend, or ``none``); write the ground truth;
* :func:`export_devices` -- the fleet's device ids, patients and public keys, to enrol
  them in a backend before sending;
* :func:`parse_fault_plan` -- ``DEVICE:KIND@CYCLE`` specs into a fault plan.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from medwarden.errors import UsageError
from medwarden.telemetry.devices import key_id, public_key_to_bytes
from medwarden.telemetry.records import JsonObject
from medwarden.testing.fleet.backend import MemoryBackend, compare_truth
from medwarden.testing.fleet.device import CYCLE, DEFAULT_START, Transport, device_key
from medwarden.testing.fleet.faults import Fault, GroundTruth, fault_from_spec
from medwarden.testing.fleet.fleet import FleetConfig, SimClock, device_ids, run_fleet
from medwarden.testing.fleet.transports import (
    HttpsTransport,
    InProcessTransport,
    JsonlFileTransport,
    MqttTransport,
)

__all__ = [
    "TRANSPORTS",
    "export_devices",
    "parse_fault_plan",
    "simulate",
    "write_truth",
]

TRANSPORTS = ("jsonl", "https", "mqtt", "memory", "none")


def parse_fault_plan(specs: Sequence[str]) -> dict[int | str, list[Fault]]:
    """``["3:transit_dose_tamper@40", "sim-1-0002:replay@100"]`` -> a fault plan.

    The device is its index in the fleet (``3``) or its id; several faults may name the
    same device.
    """
    plan: dict[int | str, list[Fault]] = {}
    for spec in specs:
        device, sep, fault = spec.partition(":")
        if not sep or not device.strip():
            raise UsageError(
                f"cannot read fault plan entry {spec!r}", hint="write DEVICE:KIND@CYCLE"
            )
        key: int | str = int(device) if device.strip().isdigit() else device.strip()
        plan.setdefault(key, []).append(fault_from_spec(fault))
    return plan


def export_devices(seed: int, count: int) -> list[JsonObject]:
    """Device id, key id and raw Ed25519 public key (base64url) of each simulated device."""
    from medwarden.testing.fleet.physiology import COHORT

    out: list[JsonObject] = []
    for index, device_id in enumerate(device_ids(seed, count)):
        raw = public_key_to_bytes(device_key(seed, device_id).public_key())
        out.append(
            {
                "device_id": device_id,
                "patient": COHORT[index % len(COHORT)],
                "key_id": key_id(raw),
                "public_key": base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii"),
            }
        )
    return out


def write_truth(path: Path, truth: Sequence[GroundTruth]) -> None:
    """One JSON object per line (see :meth:`GroundTruth.to_json`)."""
    with path.open("wb") as out:
        for entry in truth:
            out.write(orjson.dumps(entry.to_json(), option=orjson.OPT_SORT_KEYS) + b"\n")


def _read_map(path: Path | None, what: str) -> dict[str, str]:
    if path is None:
        raise UsageError(f"the transport needs a {what} file (JSON: device id -> secret)")
    value = orjson.loads(path.read_bytes())
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise UsageError(f"{path} must hold a JSON object of device id -> text")
    return {str(k): v for k, v in value.items()}


def _jsonl_sink(output: Path, workers: int, worker: int) -> Transport:
    if workers == 1:
        return JsonlFileTransport(output)
    return JsonlFileTransport(output.with_name(f"{output.stem}.w{worker}{output.suffix}"))


def _https_sink(url: str, tokens: dict[str, str], ca_file: Path | None, worker: int) -> Transport:
    return HttpsTransport(url, tokens, ca_file=ca_file)


def _mqtt_sink(
    host: str, port: int, ca_file: Path, passwords: dict[str, str], worker: int
) -> Transport:
    from medwarden.ingest.mqtt import BrokerEndpoint

    return MqttTransport(BrokerEndpoint(host, port, ca_file=ca_file), passwords)


def simulate(
    *,
    devices: int = 20,
    hours: float = 24.0,
    seed: int = 1,
    controller: str = "oref0",
    transport: str = "jsonl",
    output: Path | None = None,
    truth_output: Path | None = None,
    faults: Sequence[str] = (),
    restarts: Sequence[str] = (),
    start: datetime | None = None,
    url: str | None = None,
    ca_file: Path | None = None,
    tokens_file: Path | None = None,
    mqtt_host: str = "127.0.0.1",
    mqtt_port: int = 8883,
    passwords_file: Path | None = None,
    workers: int = 1,
) -> JsonObject:
    """Run a fleet; return its summary (see :meth:`FleetResult.summary`).

    ``restarts`` are ``DEVICE@CYCLE`` (index only).  With ``workers > 1`` the devices are
    split over that many processes; the ``jsonl`` output is then one file per worker
    (``NAME.wN.jsonl``).  ``start`` defaults to a fixed instant
    (:data:`~medwarden.testing.fleet.device.DEFAULT_START`) so runs are reproducible; pass
    the current time when a live backend checks device clocks against its own.
    """
    if transport not in TRANSPORTS:
        raise UsageError(f"unknown transport {transport!r}", hint="one of " + ", ".join(TRANSPORTS))
    cycles = round(hours * 60 / (CYCLE.total_seconds() / 60))
    plan_restarts: dict[int, list[int]] = {}
    for spec in restarts:
        dev, sep, cyc = spec.partition("@")
        if not sep or not dev.isdigit() or not cyc.isdigit():
            raise UsageError(f"cannot read restart {spec!r}", hint="write DEVICE_INDEX@CYCLE")
        plan_restarts.setdefault(int(dev), []).append(int(cyc))
    config = FleetConfig(
        devices=devices,
        cycles=max(cycles, 1),
        seed=seed,
        start=(start or DEFAULT_START).astimezone(UTC),
        controller=controller,
        restarts=plan_restarts,
        workers=workers,
    )
    plan = parse_fault_plan(faults)
    clock = SimClock(config.start)
    backend: MemoryBackend | None = None
    factory: Callable[[int], Transport] | None = None
    if transport == "jsonl":
        if output is None:
            raise UsageError("the jsonl transport needs an output file")
        factory = functools.partial(_jsonl_sink, output, workers)
    elif transport == "https":
        if url is None:
            raise UsageError("the https transport needs the backend's URL")
        factory = functools.partial(_https_sink, url, _read_map(tokens_file, "tokens"), ca_file)
    elif transport == "mqtt":
        if ca_file is None:
            raise UsageError("the mqtt transport needs the broker's CA file")
        factory = functools.partial(
            _mqtt_sink, mqtt_host, mqtt_port, ca_file, _read_map(passwords_file, "passwords")
        )
    elif transport == "memory":
        if workers != 1:
            raise UsageError("the in-process memory backend runs in one worker")
        backend = MemoryBackend(clock)
        for device_id in device_ids(seed, devices):
            backend.register(
                device_id,
                device_key(seed, device_id).public_key(),
                config.start - timedelta(days=1),
            )
    if workers > 1:
        result = run_fleet(config, faults=plan, transport_factory=factory)
    else:
        sink: Transport | None = factory(0) if factory is not None else None
        if backend is not None:
            sink = InProcessTransport(backend)
            if output is not None:
                sink = JsonlFileTransport(output, tee=sink)
        try:
            result = run_fleet(config, sink, faults=plan, clock=clock)
        finally:
            if sink is not None:
                sink.close()
    if truth_output is not None:
        write_truth(truth_output, result.truth)
    summary = result.summary()
    if backend is not None:
        summary["backend"] = compare_truth(result.truth, backend.events)
    return summary
