"""Run N simulated devices for a simulated duration, deterministically from one seed.

Devices advance in lock-step, cycle by cycle, so that all of them share one simulated
clock (:class:`SimClock`), which an in-process backend can use as its receipt time.
Patients are taken from simglucose's cohort in order (``adolescent#001`` ...
``child#010``, then again).  A fault plan maps a device (index or id) to the faults it
carries; planned restarts rebuild a device from its persisted state at the given cycles.
The result holds the ground truth of every fault that fired and the counts.

With ``workers > 1`` the devices are split over that many processes (each with its own
controller subprocess and its own transport from ``transport_factory(worker)``); the
ground truth and the envelopes are the same as in one process.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from medwarden.errors import UsageError
from medwarden.telemetry.controllers.base import Controller
from medwarden.telemetry.devices import public_key_to_bytes
from medwarden.telemetry.records import JsonObject
from medwarden.testing.fleet.device import (
    CYCLE,
    DEFAULT_START,
    DeviceStats,
    SimulatedDevice,
    Transport,
)
from medwarden.testing.fleet.faults import Fault, GroundTruth
from medwarden.testing.fleet.loop import (
    LoopHelpers,
    Oref0Helpers,
    StandInController,
    StandInHelpers,
)

__all__ = [
    "CONTROLLERS",
    "FleetConfig",
    "FleetResult",
    "SimClock",
    "build_device",
    "device_ids",
    "open_controller",
    "run_fleet",
]

CONTROLLERS = ("oref0", "standin")


@dataclass(slots=True)
class SimClock:
    """The simulated time of the fleet (callable: a backend's receipt clock)."""

    now: datetime = DEFAULT_START

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """What to simulate."""

    devices: int = 20
    cycles: int = 288
    """5-minute cycles per device (288 = one day)."""
    seed: int = 1
    start: datetime = DEFAULT_START
    controller: str = "oref0"
    """``oref0`` (the reference: OpenAPS oref0 via Node) or ``standin`` (tests)."""
    sensor: str = "GuardianRT"
    restarts: Mapping[int, Sequence[int]] = field(default_factory=dict)
    """Device index -> cycles before which the device restarts from its persisted state."""
    max_attempts: int = 5
    workers: int = 1

    def __post_init__(self) -> None:
        if self.devices < 1 or self.cycles < 1:
            raise UsageError("simulate at least one device for at least one cycle")
        if self.controller not in CONTROLLERS:
            raise UsageError(
                f"unknown controller {self.controller!r}", hint="one of " + ", ".join(CONTROLLERS)
            )
        if self.workers < 1:
            raise UsageError("workers must be >= 1")
        if self.start.tzinfo is None:
            raise UsageError("the simulated start time must be timezone-aware")


@dataclass(slots=True)
class FleetResult:
    """Ground truth and counts of one fleet run."""

    config: FleetConfig
    device_ids: list[str]
    public_keys: dict[str, bytes]
    patients: dict[str, str]
    truth: list[GroundTruth]
    stats: dict[str, DeviceStats]
    glucose_range: dict[str, tuple[float, float]]
    wall_s: float

    @property
    def device_cycles(self) -> int:
        return sum(s.cycles for s in self.stats.values())

    @property
    def cycles_per_s(self) -> float:
        return self.device_cycles / self.wall_s if self.wall_s > 0 else float("inf")

    def totals(self) -> JsonObject:
        keys = DeviceStats.__slots__
        return {k: sum(getattr(s, k) for s in self.stats.values()) for k in keys}

    def summary(self) -> JsonObject:
        """A JSON summary (what the CLI prints)."""
        by_kind: dict[str, int] = {}
        for t in self.truth:
            by_kind[t.fault] = by_kind.get(t.fault, 0) + 1
        lo = min((r[0] for r in self.glucose_range.values()), default=None)
        hi = max((r[1] for r in self.glucose_range.values()), default=None)
        return {
            "devices": len(self.device_ids),
            "cycles": self.config.cycles,
            "seed": self.config.seed,
            "controller": self.config.controller,
            "start": self.config.start.astimezone(UTC).isoformat(),
            "totals": self.totals(),
            "ground_truth": len(self.truth),
            "ground_truth_by_fault": dict(sorted(by_kind.items())),
            "cgm_min_mg_dl": lo,
            "cgm_max_mg_dl": hi,
            "wall_s": round(self.wall_s, 3),
            "device_cycles_per_s": round(self.cycles_per_s, 1),
        }


def device_ids(seed: int, count: int) -> list[str]:
    """The ids of a fleet's devices."""
    return [f"sim-{seed}-{i:04d}" for i in range(count)]


def _sensor_seed(seed: int, device_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"cgm\x00{seed}\x00{device_id}".encode()).digest()[:4])


@contextmanager
def open_controller(name: str) -> Iterator[tuple[Controller, LoopHelpers]]:
    """The controller and its helper ops: one oref0 Node process, or the stand-in."""
    if name == "standin":
        yield StandInController(), StandInHelpers()
        return
    from medwarden.telemetry.controllers.oref0 import Oref0Runner

    runner = Oref0Runner()
    controller: Controller = runner
    helpers: LoopHelpers = Oref0Helpers(runner)
    try:
        yield controller, helpers
    finally:
        runner.close()


def build_device(
    config: FleetConfig,
    index: int,
    controller: Controller,
    helpers: LoopHelpers,
    faults: Sequence[Fault] = (),
) -> SimulatedDevice:
    """Device ``index`` of the fleet, with its patient from the cohort."""
    from medwarden.testing.fleet.physiology import COHORT, VirtualPatient

    device_id = device_ids(config.seed, index + 1)[index]
    name = COHORT[index % len(COHORT)]
    patient = VirtualPatient(name, seed=_sensor_seed(config.seed, device_id), sensor=config.sensor)
    prof = patient.profile
    return SimulatedDevice(
        device_id=device_id,
        seed=config.seed,
        patient=patient,
        patient_name=name,
        basal_u_h=prof.basal_u_h,
        isf_mg_dl_u=prof.isf_mg_dl_u,
        carb_ratio_g_u=prof.carb_ratio_g_u,
        controller=controller,
        helpers=helpers,
        start=config.start,
        horizon_cycles=config.cycles,
        faults=faults,
        max_attempts=config.max_attempts,
    )


def _plan_for(plan: Mapping[int | str, Sequence[Fault]], index: int, device_id: str) -> list[Fault]:
    return [*plan.get(index, ()), *plan.get(device_id, ())]


def _run(
    config: FleetConfig,
    indices: Sequence[int],
    transport: Transport | None,
    faults: Mapping[int | str, Sequence[Fault]],
    clock: SimClock | None,
    on_cycle: Callable[[int], None] | None,
) -> FleetResult:
    began = time.perf_counter()
    ids = device_ids(config.seed, config.devices)
    truth: list[GroundTruth] = []
    stats: dict[str, DeviceStats] = {}
    ranges: dict[str, tuple[float, float]] = {}
    keys: dict[str, bytes] = {}
    patients: dict[str, str] = {}
    with open_controller(config.controller) as (controller, helpers):
        devices = {
            i: build_device(config, i, controller, helpers, _plan_for(faults, i, ids[i]))
            for i in indices
        }
        for dev in devices.values():
            keys[dev.device_id] = public_key_to_bytes(dev.public_key)
            patients[dev.device_id] = dev.patient_name
        for cycle in range(config.cycles):
            if clock is not None:
                clock.now = config.start + cycle * CYCLE + timedelta(seconds=30)
            for i in indices:
                dev = devices[i]
                if cycle in config.restarts.get(i, ()):
                    state = dev.state()
                    old_truth, old_stats = dev.truth, dev.stats
                    dev = SimulatedDevice(
                        device_id=dev.device_id,
                        seed=dev.seed,
                        patient=dev.patient,
                        patient_name=dev.patient_name,
                        basal_u_h=dev.basal_u_h,
                        isf_mg_dl_u=float(dev.profile["sens"]),
                        carb_ratio_g_u=float(dev.profile["carb_ratio"]),
                        controller=controller,
                        helpers=helpers,
                        start=config.start,
                        horizon_cycles=config.cycles,
                        faults=dev.faults,
                        max_attempts=config.max_attempts,
                    )
                    dev.resume(state)
                    dev.truth, dev.stats = old_truth, old_stats
                    devices[i] = dev
                report = dev.run_cycle(transport)
                g = report.glucose_mg_dl
                if g is not None:
                    lo, hi = ranges.get(dev.device_id, (g, g))
                    ranges[dev.device_id] = (min(lo, g), max(hi, g))
            if on_cycle is not None:
                on_cycle(cycle)
        for dev in devices.values():
            truth.extend(dev.truth)
            stats[dev.device_id] = dev.stats
    return FleetResult(
        config=config,
        device_ids=[ids[i] for i in indices],
        public_keys=keys,
        patients=patients,
        truth=truth,
        stats=stats,
        glucose_range=ranges,
        wall_s=time.perf_counter() - began,
    )


def _worker(
    config: FleetConfig,
    indices: list[int],
    factory: Callable[[int], Transport] | None,
    worker: int,
    faults: Mapping[int | str, Sequence[Fault]],
) -> FleetResult:
    transport = factory(worker) if factory is not None else None
    try:
        return _run(config, indices, transport, faults, None, None)
    finally:
        if transport is not None:
            transport.close()


def run_fleet(
    config: FleetConfig,
    transport: Transport | None = None,
    *,
    faults: Mapping[int | str, Sequence[Fault]] | None = None,
    clock: SimClock | None = None,
    transport_factory: Callable[[int], Transport] | None = None,
    on_cycle: Callable[[int], None] | None = None,
) -> FleetResult:
    """Simulate the fleet; see the module docstring.

    ``transport`` is used in one process; with ``config.workers > 1`` give a picklable
    ``transport_factory(worker_index)`` instead (or neither, to only generate records).
    """
    plan = dict(faults or {})
    if config.workers == 1:
        return _run(config, range(config.devices), transport, plan, clock, on_cycle)
    if transport is not None or clock is not None or on_cycle is not None:
        raise UsageError("with several workers pass a transport_factory, not a transport/clock")
    began = time.perf_counter()
    shards = [list(range(w, config.devices, config.workers)) for w in range(config.workers)]
    shards = [s for s in shards if s]
    with ProcessPoolExecutor(max_workers=len(shards)) as pool:
        parts = list(
            pool.map(
                _worker,
                *zip(
                    *[(config, s, transport_factory, w, plan) for w, s in enumerate(shards)],
                    strict=True,
                ),
            )
        )
    merged = FleetResult(config, [], {}, {}, [], {}, {}, time.perf_counter() - began)
    for part in parts:
        merged.device_ids.extend(part.device_ids)
        merged.public_keys.update(part.public_keys)
        merged.patients.update(part.patients)
        merged.truth.extend(part.truth)
        merged.stats.update(part.stats)
        merged.glucose_range.update(part.glucose_range)
    order = {d: i for i, d in enumerate(device_ids(config.seed, config.devices))}
    merged.device_ids.sort(key=order.__getitem__)
    merged.truth.sort(key=lambda t: (order[t.device_id], t.cycle))
    return merged
