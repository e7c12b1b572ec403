"""Faults and attacks injected at known records, each with the ground truth it implies.

A :class:`Fault` is a small injector with hooks that a
:class:`~medwarden.testing.fleet.device.SimulatedDevice` calls during its 5-minute cycle;
every hook defaults to "no change", so faults compose: a device may carry any list of them.

* ``reading`` -- the sensor layer (compression low, dropout);
* ``clock_offset`` -- the device clock (clock jump);
* ``edit`` -- a record's body *on the device*, before it is signed (tampered dose, tampered
  sensor value, a decision that disagrees with its inputs).  The device executes what it
  logs, so a tampered command is also what the pump delivers;
* ``transmit`` -- the envelopes of one transmission, *after* signing (bytes altered, a
  forged signature, a replay, dropped or reordered records).

Each fault appends :class:`GroundTruth` entries when it fires: the record a correct
backend must name (device, boot, seq and the hash of the record *as the backend receives
it*), the event kind it must raise and whether that is a security event, a clinical
warning or just an ingest outcome (a byte-identical replay is a ``duplicate``).

Transit faults have consequences a correct backend reports too, and they are listed as
separate entries (``primary=False``): a record rejected in the middle of a transmission
leaves a one-record ``gap`` at its successor; when the device then retries the genuine
bytes (it does unless the sink acknowledged the altered envelope), that retry fills the
gap as a ``reorder``, which the device reports when it sends it.
"""

from __future__ import annotations

from medwarden.errors import UsageError
from medwarden.testing.fleet.fault_base import (
    Edit,
    Fault,
    FaultContext,
    GroundTruth,
    Transmission,
)
from medwarden.testing.fleet.faults_device import (
    ClockJump,
    DecisionMismatch,
    DeviceDoseTamper,
    DeviceSensorTamper,
    SensorCompressionLow,
    SensorDropout,
)
from medwarden.testing.fleet.faults_transit import (
    DropRecords,
    ForgedSignature,
    ReorderRecords,
    Replay,
    TransitDoseTamper,
    TransitSensorTamper,
)

__all__ = [
    "FAULT_KINDS",
    "ClockJump",
    "DecisionMismatch",
    "DeviceDoseTamper",
    "DeviceSensorTamper",
    "DropRecords",
    "Edit",
    "Fault",
    "FaultContext",
    "ForgedSignature",
    "GroundTruth",
    "ReorderRecords",
    "Replay",
    "SensorCompressionLow",
    "SensorDropout",
    "TransitDoseTamper",
    "TransitSensorTamper",
    "Transmission",
    "fault_from_spec",
]


FAULT_KINDS: dict[str, type[Fault]] = {
    cls.kind: cls
    for cls in (
        TransitDoseTamper,
        DeviceDoseTamper,
        TransitSensorTamper,
        DeviceSensorTamper,
        ForgedSignature,
        Replay,
        DropRecords,
        ReorderRecords,
        ClockJump,
        SensorCompressionLow,
        SensorDropout,
        DecisionMismatch,
    )
}
"""Every injector by its ``kind`` (what ``--fault KIND@CYCLE`` names)."""


def fault_from_spec(spec: str) -> Fault:
    """Build a fault from ``KIND@CYCLE`` (e.g. ``transit_dose_tamper@40``)."""
    kind, sep, cycle = spec.partition("@")
    cls = FAULT_KINDS.get(kind.strip())
    if not sep or cls is None or not cycle.strip().isdigit():
        raise UsageError(
            f"cannot read fault {spec!r}",
            hint="write KIND@CYCLE with KIND one of " + ", ".join(sorted(FAULT_KINDS)),
        )
    return cls(int(cycle))
