"""Fixtures: simglucose (skip when absent), devices with the stand-in controller, oref0."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from medwarden.errors import ConfigError
from medwarden.telemetry.chain import ChainState, FindingKind, Outcome, check_next
from medwarden.telemetry.envelope import SignedRecord, record_hash, verify_envelope
from medwarden.telemetry.receipts import IngestResult
from medwarden.telemetry.records import GENESIS
from medwarden.testing.fleet import physiology
from medwarden.testing.fleet.backend import MemoryBackend
from medwarden.testing.fleet.device import CYCLE, DEFAULT_START, SimulatedDevice, Transport
from medwarden.testing.fleet.faults import Fault
from medwarden.testing.fleet.fleet import FleetConfig, SimClock, build_device
from medwarden.testing.fleet.loop import StandInController, StandInHelpers
from medwarden.testing.fleet.transports import InProcessTransport


@pytest.fixture(scope="session", autouse=True)
def simglucose_ready() -> None:
    """Skip the simulator's tests when simglucose is not installed (the ``sim`` extra)."""
    try:
        physiology._load()
    except ConfigError as exc:
        pytest.skip(exc.message)


def standin_device(
    *,
    seed: int = 5,
    index: int = 0,
    faults: Sequence[Fault] = (),
    cycles: int = 288,
) -> SimulatedDevice:
    """Device ``index`` of a fleet with the stand-in controller."""
    config = FleetConfig(devices=index + 1, cycles=cycles, seed=seed, controller="standin")
    return build_device(config, index, StandInController(), StandInHelpers(), faults)


def run(
    device: SimulatedDevice, cycles: int, transport: Transport | None = None
) -> list[SignedRecord]:
    """Run ``cycles`` cycles; return every record made, in order."""
    made: list[SignedRecord] = []
    for _ in range(cycles):
        made.extend(device.run_cycle(transport).records)
    return made


def assert_valid_chain(
    records: Sequence[SignedRecord], public_key: Ed25519PublicKey, *, first: bool = True
) -> ChainState | None:
    """Every signature verifies, prev_hash links hold and the chain check accepts each."""
    state: ChainState | None = None
    prev: str | None = GENESIS if first else None
    for signed in records:
        verify_envelope(public_key, signed)
        rec = signed.record
        if prev is not None:
            assert rec.prev_hash == prev, f"broken link at {rec.boot_id}/{rec.seq}"
        prev = record_hash(rec)
        verdict = check_next(state, rec, received_at=rec.device_time, window=timedelta(minutes=15))
        assert verdict.accepted, (rec.seq, verdict.outcome, verdict.findings)
        assert verdict.outcome in (Outcome.ACCEPTED, Outcome.NEW_BOOT)
        assert all(f.kind is FindingKind.NEW_BOOT for f in verdict.findings)
        state = verdict.state
    return state


class Recorder:
    """A transport that keeps every payload and acknowledges what ``ack`` allows."""

    def __init__(self, inner: InProcessTransport | None = None) -> None:
        self.inner = inner
        self.payloads: list[bytes] = []
        self.down = False

    def send(self, device_id: str, envelopes: Sequence[bytes]) -> list[IngestResult]:
        self.payloads.extend(envelopes)
        if self.inner is not None:
            results = self.inner.send(device_id, envelopes)
            return [] if self.down else results
        if self.down:
            return []
        return [IngestResult(i, "accepted") for i in range(len(envelopes))]

    def close(self) -> None:
        return None


def with_backend(device: SimulatedDevice) -> tuple[MemoryBackend, SimClock]:
    clock = SimClock(DEFAULT_START)
    backend = MemoryBackend(clock)
    backend.register(device.device_id, device.public_key, DEFAULT_START - timedelta(days=1))
    return backend, clock


def tick(device: SimulatedDevice, clock: SimClock) -> None:
    clock.now = DEFAULT_START + device.cycle * CYCLE + timedelta(seconds=30)


@dataclass
class FaultRun:
    """A device run with faults against the in-memory backend."""

    device: SimulatedDevice
    backend: MemoryBackend
    link: Recorder
    made: list[SignedRecord]


def run_with_backend(
    faults: Sequence[Fault], cycles: int = 30, *, index: int = 0, seed: int = 5
) -> FaultRun:
    """Run one stand-in device carrying ``faults`` for ``cycles`` against a MemoryBackend."""
    device = standin_device(seed=seed, index=index, faults=faults, cycles=cycles)
    backend, clock = with_backend(device)
    link = Recorder(InProcessTransport(backend))
    made: list[SignedRecord] = []
    for _ in range(cycles):
        tick(device, clock)
        made.extend(device.run_cycle(link).records)
    return FaultRun(device, backend, link, made)


@pytest.fixture(scope="session")
def oref0_dir() -> Path:
    """oref0 0.7.1 installed ($MEDWARDEN_OREF0_DIR or the user cache); skip without Node."""
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: oref0 cannot run")
    from medwarden.telemetry.controllers.oref0 import install_oref0

    return install_oref0()


@pytest.fixture(scope="session")
def oref0(oref0_dir: Path) -> Iterator[object]:
    """One oref0 runner shared by the simulator's tests."""
    from medwarden.telemetry.controllers.oref0 import Oref0Runner

    with Oref0Runner(oref0_dir) as runner:
        yield runner
