"""Check 4: sensor data quality (range, rate, flat line, noise, compression low)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from medwarden.telemetry.checks import CHECK_ERROR, DeviceLimits, SensorQualityCheck, Severity
from medwarden.telemetry.records import RecordType
from tests.telemetry.checks.builders import Trace, by_code, codes, named, refs, run

CHECK = SensorQualityCheck()
SENSOR = RecordType.SENSOR_READING


def _trace(values: Sequence[float], step: float = 5) -> Trace:
    t = Trace()
    t.sensors(values, step=step)
    return t


def test_physiologic_trace_raises_nothing() -> None:
    assert run(CHECK, _trace([110, 114, 120, 118, 112, 105, 101, 99, 102, 108]).records) == ()


# -- range ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "flagged"), [(40, False), (39.9, True), (400, False), (400.1, True)]
)
def test_range_limits_are_exclusive(value: float, flagged: bool) -> None:
    t = _trace([100, 100 + (value - 100) / 2, value])
    found = by_code(run(CHECK, t.records), "glucose_out_of_range")
    assert [w.evidence for w in found] == ([refs(t.records[2])] if flagged else [])


def test_out_of_range_is_raised_once_per_excursion() -> None:
    t = _trace([60, 45, 38, 38.5, 39, 45, 38])
    found = by_code(run(CHECK, t.records), "glucose_out_of_range")
    assert [named(w) for w in found] == [[2], [6]]
    assert found[0].severity is Severity.HIGH
    assert "below" in found[0].detail


def test_excursion_after_a_sensor_gap_is_raised_again() -> None:
    t = Trace()
    t.sensor(0, 420)
    t.sensor(5, 420)
    t.sensor(25, 420)
    found = by_code(run(CHECK, t.records), "glucose_out_of_range")
    assert [named(w) for w in found] == [[0], [2]]


def test_range_limits_come_from_the_model() -> None:
    t = _trace([100, 100, 100])
    limits = DeviceLimits(glucose_min_mg_dl=100.5, glucose_max_mg_dl=300)
    assert [named(w) for w in run(CHECK, t.records, limits=limits)] == [[0]]


# -- rate of change ------------------------------------------------------------------


def test_rate_just_over_the_limit_names_the_step() -> None:
    t = _trace([100, 120, 140.01])
    (warning,) = run(CHECK, t.records)
    assert warning.code == "implausible_rate_of_change"
    assert warning.evidence == refs(t.records[1], t.records[2])
    assert "+4.00 mg/dL/min" in warning.detail


def test_rate_at_the_limit_in_either_direction_passes() -> None:
    assert run(CHECK, _trace([200, 180, 200, 220]).records) == ()
    assert codes(run(CHECK, _trace([200, 179.9]).records)) == ["implausible_rate_of_change"]


def test_rate_is_not_computed_across_a_gap_or_zero_interval() -> None:
    t = Trace()
    t.sensor(0, 100)
    t.sensor(20, 200)
    t.sensor(20, 250)
    assert by_code(run(CHECK, t.records), "implausible_rate_of_change") == []


# -- flat line ------------------------------------------------------------------------


def test_flat_line_names_all_identical_readings_once() -> None:
    t = _trace([101, 100, 100, 100, 100, 100, 100, 100, 100])
    (warning,) = run(CHECK, t.records)
    assert warning.code == "flat_line"
    assert named(warning) == [1, 2, 3, 4, 5, 6]


def test_five_identical_readings_are_not_a_flat_line() -> None:
    assert run(CHECK, _trace([101, 100, 100, 100, 100, 100, 101]).records) == ()


def test_flat_line_is_broken_by_a_gap() -> None:
    t = Trace()
    for minute in (0, 5, 10, 30, 35, 40):
        t.sensor(minute, 100)
    assert run(CHECK, t.records) == ()


def test_flat_line_length_comes_from_the_model() -> None:
    t = _trace([100, 100, 100])
    (warning,) = run(CHECK, t.records, limits=DeviceLimits(flat_line_readings=3))
    assert named(warning) == [0, 1, 2]


# -- noise ----------------------------------------------------------------------------


def test_zigzag_is_noise_raised_at_the_first_noisy_window() -> None:
    t = _trace([100, 110, 100, 110, 100, 110, 100, 110])
    (warning,) = run(CHECK, t.records)
    assert warning.code == "sensor_noise"
    assert named(warning) == [0, 1, 2, 3, 4, 5]
    assert warning.detail.startswith("4 direction changes")


def test_zigzag_with_small_steps_is_not_noise() -> None:
    assert run(CHECK, _trace([100, 109.9, 100, 109.9, 100, 109.9]).records) == ()


def test_three_alternations_are_not_noise() -> None:
    assert run(CHECK, _trace([100, 110, 100, 110, 100, 100]).records) == ()


def test_noise_episode_is_raised_again_after_a_quiet_window() -> None:
    values = [100, 110, 100, 110, 100, 110] + [110] * 4 + [100, 110, 100, 110, 100]
    found = run(CHECK, _trace(values).records)
    assert [w.evidence[-1].seq for w in found] == [5, 14]


# -- compression low -------------------------------------------------------------------


def test_compression_low_names_the_whole_dip_from_pre_drop_to_recovery() -> None:
    t = _trace([150, 150, 105, 100, 120, 135, 150, 150])
    found = by_code(run(CHECK, t.records), "compression_low")
    assert [named(w) for w in found] == [[1, 2, 3, 4, 5]]
    assert found[0].severity is Severity.MEDIUM


def test_drop_of_exactly_the_limit_is_no_compression_low() -> None:
    t = _trace([150, 130, 110, 130, 150])
    assert by_code(run(CHECK, t.records), "compression_low") == []


def test_drop_slower_than_the_drop_window_is_no_compression_low() -> None:
    t = _trace([150, 140, 130, 120, 105, 130, 150])
    assert by_code(run(CHECK, t.records), "compression_low") == []


def test_recovery_later_than_the_recovery_window_is_no_compression_low() -> None:
    t = _trace([150, 100, 100, 100, 100, 100, 100, 100, 150])
    assert by_code(run(CHECK, t.records), "compression_low") == []


def test_recovery_at_the_window_edge_counts() -> None:
    t = _trace([150, 100, 100, 100, 100, 100, 100, 131])
    (warning,) = by_code(run(CHECK, t.records), "compression_low")
    assert named(warning) == [0, 1, 2, 3, 4, 5, 6, 7]


def test_without_recovery_there_is_no_compression_low() -> None:
    t = _trace([150, 100, 105, 110, 115, 120, 125, 129])
    assert by_code(run(CHECK, t.records), "compression_low") == []


# -- fail closed ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"glucose_mg_dl": "100"},
        {"glucose_mg_dl": True},
        {"glucose_mg_dl": None},
        {"glucose_mg_dl": 100, "quality": "great"},
        {"glucose_mg_dl": 100, "quality": 1},
    ],
)
def test_malformed_reading_is_a_check_error_naming_it(body: dict[str, object]) -> None:
    t = _trace([100, 100])
    bad = t.add(SENSOR, body, 10)
    t.sensor(15, 100)
    (warning,) = run(CHECK, t.records)
    assert (warning.code, warning.severity) == (CHECK_ERROR, Severity.HIGH)
    assert warning.evidence == refs(bad)
    assert "glucose_mg_dl" in warning.detail or "quality" in warning.detail


def test_readings_the_device_marks_unusable_are_skipped() -> None:
    t = _trace([100, 100])
    t.add(SENSOR, {"glucose_mg_dl": 10, "quality": "warmup"}, 10)
    t.add(SENSOR, {"glucose_mg_dl": 900, "quality": "error"}, 15)
    t.add(SENSOR, {"glucose_mg_dl": 101, "quality": "ok"}, 20)
    assert run(CHECK, t.records) == ()


def test_lookback_spans_the_longest_pattern() -> None:
    lookback = CHECK.lookback(DeviceLimits())
    assert lookback.duration.total_seconds() == 7 * 15 * 60
