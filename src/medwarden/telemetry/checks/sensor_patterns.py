"""Sensor-quality detectors on patterns: flat line, noise and compression low.

* ``flat_line`` -- ``flat_line_readings`` identical consecutive readings in a segment
  (a stuck sensor); raised once per run, at the reading that completes it.
* ``sensor_noise`` -- within ``noise_window_readings`` consecutive readings, at least
  ``noise_min_alternations`` sign changes between successive steps that are each at
  least ``noise_min_step_mg_dl``; raised at the first noisy window of an episode.
* ``compression_low`` -- a drop of more than ``compression_drop_mg_dl`` within
  ``compression_drop_window_min`` (from the highest reading of that window to the first
  reading that deep: the drop end), then a reading back within
  ``compression_recovery_margin_mg_dl`` of the pre-drop value within
  ``compression_recovery_window_min`` of the drop end (pressure on the sensor site);
  raised at the first recovering reading, naming the pre-drop reading, the drop end and
  the recovery.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

from medwarden.telemetry.checks.base import Candidate, Severity
from medwarden.telemetry.checks.limits import DeviceLimits
from medwarden.telemetry.checks.series import Reading

__all__ = ["compression_low", "flat_line", "sensor_noise"]


def flat_line(limits: DeviceLimits, segment: Sequence[Reading]) -> Iterator[Candidate]:
    """Yield one candidate per run of ``flat_line_readings`` identical readings."""
    need = limits.flat_line_readings
    run = 0
    for index, reading in enumerate(segment):
        same = index > 0 and segment[index - 1].glucose == reading.glucose
        run = run + 1 if same else 1
        if run == need:
            evidence = tuple(r.stored for r in segment[index - need + 1 : index + 1])
            yield Candidate(
                "flat_line",
                Severity.MEDIUM,
                evidence,
                f"{need} consecutive identical sensor readings of {reading.glucose:g} mg/dL",
                decided_by=reading.stored,
            )


def _alternations(limits: DeviceLimits, window: Sequence[Reading]) -> int:
    steps = [b.glucose - a.glucose for a, b in itertools.pairwise(window)]
    big = limits.noise_min_step_mg_dl
    return sum(
        1
        for a, b in itertools.pairwise(steps)
        if abs(a) >= big and abs(b) >= big and (a > 0) != (b > 0)
    )


def _noisy(limits: DeviceLimits, segment: Sequence[Reading], end: int) -> bool:
    size = limits.noise_window_readings
    if end + 1 < size:
        return False
    return _alternations(limits, segment[end + 1 - size : end + 1]) >= limits.noise_min_alternations


def sensor_noise(limits: DeviceLimits, segment: Sequence[Reading]) -> Iterator[Candidate]:
    """Yield the first noisy window of each noisy episode in ``segment``."""
    size = limits.noise_window_readings
    for end in range(size - 1, len(segment)):
        if _noisy(limits, segment, end) and not _noisy(limits, segment, end - 1):
            window = segment[end + 1 - size : end + 1]
            yield Candidate(
                "sensor_noise",
                Severity.MEDIUM,
                tuple(r.stored for r in window),
                f"{_alternations(limits, window)} direction changes of at least "
                f"{limits.noise_min_step_mg_dl:g} mg/dL within {size} readings",
                decided_by=window[-1].stored,
            )


def _drop_for(limits: DeviceLimits, segment: Sequence[Reading], n: int) -> int | None:
    """The pre-drop reading when ``n`` ends a fast drop (the first reading that deep)."""
    low = segment[n]
    window = limits.minutes("compression_drop_window_min")
    best: int | None = None
    for i in range(n - 1, -1, -1):
        if low.stored.time - segment[i].stored.time > window:
            break
        if best is None or segment[i].glucose > segment[best].glucose:
            best = i
    if best is None:
        return None
    depth = segment[best].glucose - limits.compression_drop_mg_dl
    if low.glucose >= depth or any(r.glucose < depth for r in segment[best + 1 : n]):
        return None
    return best


def _nadir_for(limits: DeviceLimits, segment: Sequence[Reading], c: int) -> tuple[int, int] | None:
    """The lowest qualifying (pre-drop, drop end) pair within the recovery window before ``c``."""
    window = limits.minutes("compression_recovery_window_min")
    found: tuple[int, int] | None = None
    for n in range(c - 1, -1, -1):
        if segment[c].stored.time - segment[n].stored.time > window:
            break
        pre = _drop_for(limits, segment, n)
        if pre is not None and (found is None or segment[n].glucose <= segment[found[1]].glucose):
            found = (pre, n)
    return found


def compression_low(limits: DeviceLimits, segment: Sequence[Reading]) -> Iterator[Candidate]:
    """Yield one candidate per compression low, at its first recovering reading; its
    evidence is every reading from the pre-drop one to that recovering one."""
    margin = limits.compression_recovery_margin_mg_dl
    for c in range(2, len(segment)):
        pair = _nadir_for(limits, segment, c)
        if pair is None:
            continue
        pre, n = pair
        level = segment[pre].glucose - margin
        if segment[c].glucose < level or any(r.glucose >= level for r in segment[n + 1 : c]):
            continue
        a, low, up = segment[pre], segment[n], segment[c]
        yield Candidate(
            "compression_low",
            Severity.MEDIUM,
            tuple(r.stored for r in segment[pre : c + 1]),  # the whole dip, pre-drop to recovery
            f"glucose drops {a.glucose:g} -> {low.glucose:g} mg/dL and recovers to "
            f"{up.glucose:g} mg/dL: a compression (pressure-induced) sensor artefact",
            decided_by=up.stored,
        )
