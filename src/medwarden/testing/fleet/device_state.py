"""What a simulated device keeps between cycles, and its persisted JSON form.

:class:`~medwarden.testing.fleet.device.SimulatedDevice` holds its chain head, pump and
histories in these records; :func:`save` writes them (with the outbox) as the JSON a real
device would persist after each cycle, and :func:`load` reads that back for a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from medwarden.errors import UsageError
from medwarden.telemetry.envelope import parse_envelope
from medwarden.telemetry.records import JsonObject
from medwarden.testing.fleet.device_parts import Pending

__all__ = ["Chain", "Histories", "PumpState", "Saved", "load", "save"]


@dataclass(slots=True)
class Chain:
    """The device's record chain: its boot and the head new records link to."""

    boot_count: int
    boot_id: str
    next_seq: int
    head_hash: str
    made: int = 0
    """Records the device ever made (a record's ``position`` in its whole chain)."""
    last_acked: tuple[int, str, int, str] | None = None
    """(position, boot id, seq, hash) of the newest acknowledged record."""


@dataclass(slots=True)
class PumpState:
    """The pump's running temporary basal, reservoir and mode."""

    temp_rate: float | None = None
    temp_start: datetime | None = None
    temp_minutes: int = 0
    reservoir_u: float = 200.0
    mode: str = "closed_loop"
    command_counter: int = 0


@dataclass(slots=True)
class Histories:
    """The glucose, pump and carb history the controller's inputs are built from."""

    glucose: list[JsonObject] = field(default_factory=list)
    pump: list[JsonObject] = field(default_factory=list)
    carbs: list[JsonObject] = field(default_factory=list)


@dataclass(slots=True)
class Saved:
    """Everything a device persists (its identity and schedule follow from its seed)."""

    cycle: int
    chain: Chain
    outbox: list[Pending]
    pump: PumpState
    history: Histories
    low_alarm: bool


def save(device_id: str, saved: Saved) -> JsonObject:
    """The persisted JSON of ``device_id``'s state."""
    c, p, h = saved.chain, saved.pump, saved.history
    return {
        "device_id": device_id,
        "cycle": saved.cycle,
        "chain": {
            "boot_count": c.boot_count,
            "boot_id": c.boot_id,
            "next_seq": c.next_seq,
            "head_hash": c.head_hash,
            "made": c.made,
            "last_acked": list(c.last_acked) if c.last_acked else None,
        },
        "outbox": [
            {
                "wire": x.wire.decode(),
                "position": x.position,
                "attempts": x.attempts,
                "late_fault": x.late_fault,
            }
            for x in saved.outbox
        ],
        "pump": {
            "temp_rate": p.temp_rate,
            "temp_start": p.temp_start.isoformat() if p.temp_start else None,
            "temp_minutes": p.temp_minutes,
            "reservoir_u": p.reservoir_u,
            "mode": p.mode,
            "command_counter": p.command_counter,
        },
        "history": {"glucose": h.glucose, "pump": h.pump, "carbs": h.carbs},
        "low_alarm": saved.low_alarm,
    }


def load(state: JsonObject, device_id: str) -> Saved:
    """Read :func:`save`'s JSON back (the chain as it was: the caller starts a new boot)."""
    if state.get("device_id") != device_id:
        raise UsageError(f"state of {state.get('device_id')!r} given to {device_id}")
    chain = state["chain"]
    acked = chain["last_acked"]
    p = state["pump"]
    h = state["history"]
    return Saved(
        cycle=int(state["cycle"]),
        chain=Chain(
            boot_count=int(chain["boot_count"]),
            boot_id=str(chain["boot_id"]),
            next_seq=int(chain["next_seq"]),
            head_hash=str(chain["head_hash"]),
            made=int(chain["made"]),
            last_acked=(int(acked[0]), str(acked[1]), int(acked[2]), str(acked[3]))
            if acked
            else None,
        ),
        outbox=[
            Pending(
                parse_envelope(x["wire"]),
                x["wire"].encode(),
                int(x["position"]),
                int(x["attempts"]),
                x.get("late_fault"),
            )
            for x in state["outbox"]
        ],
        pump=PumpState(
            temp_rate=p["temp_rate"],
            temp_start=datetime.fromisoformat(p["temp_start"]) if p["temp_start"] else None,
            temp_minutes=int(p["temp_minutes"]),
            reservoir_u=float(p["reservoir_u"]),
            mode=str(p["mode"]),
            command_counter=int(p["command_counter"]),
        ),
        history=Histories(list(h["glucose"]), list(h["pump"]), list(h["carbs"])),
        low_alarm=bool(state["low_alarm"]),
    )
