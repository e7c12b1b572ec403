"""The simglucose adapter: cohort, units (U/h -> U/min), meals, CGM noise and pump limits."""

from __future__ import annotations

import sys

import pytest

from medwarden.errors import UsageError
from medwarden.testing.fleet.physiology import (
    COHORT,
    VirtualPatient,
    simglucose_version,
)


def _hold(patient: VirtualPatient, minutes: int, rate_u_h: float) -> list[float]:
    out = []
    for _ in range(minutes // 5):
        out.append(patient.blood_glucose)
        patient.step(5, basal_u_h=rate_u_h)
    return out


def test_cohort_and_profiles_come_from_simglucose() -> None:
    assert len(COHORT) == 30
    assert COHORT[0] == "adolescent#001"
    assert COHORT[-1] == "child#010"
    assert simglucose_version() == "0.2.11"
    adult = VirtualPatient("adult#001", seed=1)
    p = adult.profile
    assert p.name == adult.name == "adult#001"
    assert 0.5 < p.basal_u_h < 2.5
    assert p.body_weight_kg == pytest.approx(102.32)
    assert p.carb_ratio_g_u > 0
    assert p.isf_mg_dl_u > 0
    assert p.total_daily_insulin_u > 0
    assert adult.sensor_sample_min == 5
    assert adult.sensor_id.startswith("simglucose-GuardianRT-")
    with pytest.raises(UsageError):
        VirtualPatient("adult#011", seed=1)


def test_the_gym_shim_does_not_outlive_the_import() -> None:
    VirtualPatient("child#001", seed=1)
    try:
        import gym  # noqa: F401
    except ImportError:
        assert "gym" not in sys.modules


def test_steady_state_basal_in_u_per_h_holds_glucose() -> None:
    patient = VirtualPatient("adult#001", seed=1)
    bg = _hold(patient, 180, patient.profile.basal_u_h)
    assert max(bg) - min(bg) < 0.15 * bg[0]


def test_no_insulin_raises_and_a_bolus_lowers_glucose() -> None:
    starved = VirtualPatient("adult#002", seed=1)
    start = starved.blood_glucose
    assert _hold(starved, 240, 0.0)[-1] > start + 30
    dosed = VirtualPatient("adult#002", seed=1)
    dosed.step(5, basal_u_h=dosed.profile.basal_u_h, bolus_u=4.0)
    assert _hold(dosed, 180, dosed.profile.basal_u_h)[-1] < start - 30


def test_a_meal_raises_glucose() -> None:
    fed = VirtualPatient("adolescent#003", seed=1)
    start = fed.blood_glucose
    fed.eat(60)
    assert max(_hold(fed, 120, fed.profile.basal_u_h)) > start + 40
    with pytest.raises(UsageError):
        fed.eat(-1)


def test_cgm_noise_is_seeded_and_sampled_every_five_minutes() -> None:
    def readings(seed: int) -> list[float]:
        patient = VirtualPatient("child#002", seed=seed)
        out = []
        for _ in range(12):
            out.append(patient.cgm())
            patient.step(5, basal_u_h=patient.profile.basal_u_h)
        return out

    assert readings(3) == readings(3)
    assert readings(3) != readings(4)
    patient = VirtualPatient("child#002", seed=3)
    patient.step(2, basal_u_h=0.5)
    assert patient.minute == 2
    with pytest.raises(UsageError):
        patient.cgm()


def test_pump_rounds_and_clamps() -> None:
    patient = VirtualPatient("adult#003", seed=1)
    assert patient.pump_bolus(100.0) == pytest.approx(30.0)  # Insulet's maximum bolus
    assert patient.pump_bolus(-1.0) == 0.0
    assert patient.pump_rate(-2.0) == 0.0
    assert patient.pump_rate(1.25) == pytest.approx(1.25, abs=0.01)
