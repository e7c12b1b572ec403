"""Check 4: sensor data quality (range, rate of change, flat line, noise, compression low).

One registered check runs every detector of :mod:`.sensor_level` and
:mod:`.sensor_patterns` over each gap-free segment of the glucose series, so that a
malformed reading yields a single ``check_error`` rather than one per detector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from medwarden.telemetry.checks.base import Candidate, CheckInput, Lookback
from medwarden.telemetry.checks.limits import DeviceLimits
from medwarden.telemetry.checks.sensor_level import out_of_range, rate_of_change
from medwarden.telemetry.checks.sensor_patterns import compression_low, flat_line, sensor_noise
from medwarden.telemetry.checks.series import Reading, glucose_series, segments

__all__ = ["DETECTORS", "SensorQualityCheck"]

Detector = Callable[[DeviceLimits, Sequence[Reading]], Iterator[Candidate]]

DETECTORS: tuple[Detector, ...] = (
    out_of_range,
    rate_of_change,
    flat_line,
    sensor_noise,
    compression_low,
)


@dataclass(frozen=True, slots=True)
class SensorQualityCheck:
    """Physiologic plausibility of the CGM signal."""

    check_id: str = "sensor_quality"

    def lookback(self, limits: DeviceLimits) -> Lookback:
        """Enough readings, each at most ``stale_after_min`` apart, for every detector."""
        readings = max(limits.flat_line_readings, limits.noise_window_readings) + 1
        pattern = readings * limits.minutes("stale_after_min")
        compression = limits.minutes("compression_drop_window_min") + limits.minutes(
            "compression_recovery_window_min"
        )
        return Lookback(duration=max(pattern, compression + limits.minutes("stale_after_min")))

    def evaluate(self, data: CheckInput) -> Iterator[Candidate]:
        """Yield check errors for malformed readings, then each detector's findings."""
        readings, errors = glucose_series(data.records)
        yield from errors
        for segment in segments(readings, data.limits.minutes("stale_after_min")):
            for detector in DETECTORS:
                yield from detector(data.limits, segment)
