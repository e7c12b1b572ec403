"""The seeded life of a simulated patient: meals (with boluses) and scheduled device events."""

from __future__ import annotations

import random
from dataclasses import dataclass

from medwarden.telemetry.records import JsonObject, RecordType

__all__ = ["Meal", "Scheduled", "event_schedule", "meal_plan"]


@dataclass(frozen=True, slots=True)
class Meal:
    """A meal at a cycle: its carbohydrates and whether the patient boluses for it."""

    cycle: int
    carbs_g: float
    bolus: bool


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A record the device logs at a cycle regardless of the loop (mode change, alarm, ...)."""

    cycle: int
    record_type: RecordType
    body: JsonObject


def meal_plan(seed: int, device_id: str, patient: str, cycles: int) -> list[Meal]:
    """Three meals a day at seeded times and sizes (children eat less); most are bolused."""
    rng = random.Random(f"meals\x00{seed}\x00{device_id}")  # noqa: S311 - simulation
    scale = 0.6 if patient.startswith("child") else 0.85 if patient.startswith("adolescent") else 1
    meals: list[Meal] = []
    per_day = 288
    for day in range(cycles // per_day + 1):
        for hour, lo, hi in ((7.5, 35, 60), (12.5, 50, 80), (18.75, 55, 90)):
            minute = hour * 60 + rng.randint(-45, 45)
            cycle = day * per_day + int(minute // 5)
            carbs = round(rng.uniform(lo, hi) * scale)
            meals.append(Meal(cycle, float(carbs), rng.random() > 0.1))
    return [m for m in meals if m.cycle < cycles]


def event_schedule(seed: int, device_id: str, cycles: int) -> list[Scheduled]:
    """Seeded mode changes (an open-loop half hour a day), alarms and device events."""
    rng = random.Random(f"events\x00{seed}\x00{device_id}")  # noqa: S311 - simulation
    out: list[Scheduled] = []
    for day in range(cycles // 288 + 1):
        base = day * 288
        start = base + rng.randint(100, 250)
        out.append(
            Scheduled(
                start,
                RecordType.MODE_CHANGE,
                {"mode": "open_loop", "previous": "closed_loop", "reason": "user"},
            )
        )
        out.append(
            Scheduled(
                start + 6,
                RecordType.MODE_CHANGE,
                {"mode": "closed_loop", "previous": "open_loop", "reason": "user"},
            )
        )
        out.append(
            Scheduled(
                base + rng.randint(1, 287),
                RecordType.DEVICE_EVENT,
                {"event": "battery_low", "battery_pct": rng.randint(10, 20)},
            )
        )
        out.append(
            Scheduled(
                base + rng.randint(1, 287),
                RecordType.ALARM,
                {
                    "code": "pump_communication",
                    "severity": "info",
                    "text": "pump answered after a retry",
                },
            )
        )
    return sorted((e for e in out if e.cycle < cycles), key=lambda e: e.cycle)
