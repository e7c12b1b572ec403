"""Reference fleet simulator: closed-loop insulin devices that sign and send their logs.

Each :class:`~.device.SimulatedDevice` couples a simglucose UVA/Padova patient, its CGM and
pump (:mod:`.physiology`, the only module that imports simglucose) with a controller
(OpenAPS oref0 via :class:`~medwarden.telemetry.controllers.oref0.Oref0Runner`, or the
stand-in of :mod:`.loop`), signs every record with its Ed25519 key and sends it over a
transport (:mod:`.transports`).  Faults and attacks (:mod:`.faults`) are injected at known
records and produce a ground-truth list; :func:`~.fleet.run_fleet` runs a whole fleet.
See ``docs/simulator.md``.

Importing this package does not import simglucose, Node or paho: those load when a
device is built, a controller opened or an MQTT transport used.
"""

from medwarden.testing.fleet.backend import MemoryBackend
from medwarden.testing.fleet.device import (
    CYCLE,
    DEFAULT_START,
    SimulatedDevice,
    Transport,
    device_key,
)
from medwarden.testing.fleet.faults import FAULT_KINDS, Fault, GroundTruth, fault_from_spec
from medwarden.testing.fleet.fleet import (
    FleetConfig,
    FleetResult,
    SimClock,
    build_device,
    device_ids,
    open_controller,
    run_fleet,
)
from medwarden.testing.fleet.transports import (
    HttpsTransport,
    InProcessTransport,
    JsonlFileTransport,
    MqttTransport,
)

__all__ = [
    "CYCLE",
    "DEFAULT_START",
    "FAULT_KINDS",
    "Fault",
    "FleetConfig",
    "FleetResult",
    "GroundTruth",
    "HttpsTransport",
    "InProcessTransport",
    "JsonlFileTransport",
    "MemoryBackend",
    "MqttTransport",
    "SimClock",
    "SimulatedDevice",
    "Transport",
    "build_device",
    "device_ids",
    "device_key",
    "fault_from_spec",
    "open_controller",
    "run_fleet",
]
