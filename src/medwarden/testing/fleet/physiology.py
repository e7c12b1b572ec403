"""The only module that imports simglucose: patient, CGM sensor and pump of one simulated person.

simglucose (UVA/Padova T1D model, 0.2.11) is installed without its declared dependencies
(see ``docs/adr/0012-simglucose-isolation.md``): its ``__init__`` registers a Gym
environment with ``from gym.envs.registration import register``, which the patient,
sensor and pump models never use.  :func:`_load` therefore installs a *shim* for exactly
``gym.envs.registration.register`` (a no-op) in :data:`sys.modules` when Gym is not
importable, imports the three models, and removes the shim again, so that nothing outside
this module ever sees a fake ``gym``.  Its ``pkg_resources`` imports need setuptools < 81
(a real dependency, pinned in the ``sim`` extra); the deprecation warning setuptools 80
emits on that import, and matplotlib's import by the noise generator, are filtered here
and only here.

Units, as simglucose expects them:

* the patient model steps one **minute** at a time; its action is ``CHO`` in g/min and
  ``insulin`` in **U/min** (it converts U/min to pmol/kg/min internally);
* a basal rate in U/h is therefore ``rate / 60`` U/min for each minute; a bolus of ``u``
  units is given as ``u`` U/min during the first minute of a cycle;
* the pump rounds in pmol/min (``U * 6000``) to its increment and clamps to its limits;
* the CGM draws one noise sample per ``sample_time`` minutes (``GuardianRT``: 5 min, the
  default here; ``Dexcom`` in simglucose samples every 3 min) and clamps to 39-600 mg/dL.

Speed: the patient's parameters are moved from a pandas Series into a plain namespace of
floats after construction: the ODE right-hand side reads ~40 of them per evaluation, and
attribute access on a Series is ~10x slower.  The trajectory is bit-identical.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from medwarden.errors import ConfigError, UsageError

__all__ = ["COHORT", "PatientProfile", "VirtualPatient", "simglucose_version"]

COHORT: tuple[str, ...] = tuple(
    f"{group}#{n:03d}" for group in ("adolescent", "adult", "child") for n in range(1, 11)
)
"""simglucose's 30 virtual patients (the FDA-accepted UVA/Padova cohort subset)."""

_U2PMOL = 6000.0
_GYM_NAMES = ("gym", "gym.envs", "gym.envs.registration")


@dataclass(frozen=True, slots=True)
class PatientProfile:
    """What a clinician would program into the pump for this patient (from simglucose)."""

    name: str
    body_weight_kg: float
    basal_u_h: float
    """Steady-state basal rate of the patient model (``u2ss * BW / 6000`` U/min, x 60)."""
    carb_ratio_g_u: float
    isf_mg_dl_u: float
    total_daily_insulin_u: float
    age_years: int


@contextmanager
def _gym_shim() -> Iterator[None]:
    """Provide ``gym.envs.registration.register`` (a no-op) while simglucose is imported."""
    try:
        importlib.import_module("gym.envs.registration")
    except ImportError:
        pass
    else:  # a real Gym is installed: use it
        yield
        return
    registration = types.ModuleType("gym.envs.registration")
    registration.register = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    envs = types.ModuleType("gym.envs")
    envs.registration = registration  # type: ignore[attr-defined]
    gym = types.ModuleType("gym")
    gym.envs = envs  # type: ignore[attr-defined]
    saved = {name: sys.modules.get(name) for name in _GYM_NAMES}
    sys.modules.update({"gym": gym, "gym.envs": envs, "gym.envs.registration": registration})
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:  # pragma: no cover - only when something else shimmed gym concurrently
                sys.modules[name] = module


@cache
def _load() -> types.SimpleNamespace:
    """Import simglucose's patient, sensor and pump models (once per process)."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # the noise generator imports pyplot
    try:
        with warnings.catch_warnings(), _gym_shim():
            warnings.filterwarnings(
                "ignore", message="pkg_resources is deprecated", category=UserWarning
            )
            warnings.filterwarnings(
                "ignore", message=r"Deprecated call to `pkg_resources", category=DeprecationWarning
            )
            import pandas as pd  # type: ignore[import-untyped,import-not-found,unused-ignore]
            import pkg_resources  # type: ignore[import-untyped,import-not-found,unused-ignore]
            from simglucose.actuator.pump import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
                InsulinPump,
            )
            from simglucose.patient.t1dpatient import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
                Action,
                T1DPatient,
            )
            from simglucose.sensor.cgm import CGMSensor  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as exc:
        raise ConfigError(
            f"the fleet simulator needs simglucose: {exc}",
            hint="install the 'sim' extra and requirements-sim.lock (see docs/simulator.md)",
        ) from None
    quest = pd.read_csv(pkg_resources.resource_filename("simglucose", "params/Quest.csv"))
    return types.SimpleNamespace(
        T1DPatient=T1DPatient,
        Action=Action,
        CGMSensor=CGMSensor,
        InsulinPump=InsulinPump,
        quest={str(row.Name): row for row in quest.itertuples(index=False)},
    )


def simglucose_version() -> str:
    """The installed simglucose version (for the records' ``sensor_id`` and reports)."""
    from importlib.metadata import version

    _load()
    return version("simglucose")


def _fast_params(params: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        **{str(k): (v if isinstance(v, str) else float(v)) for k, v in params.items()}
    )


class VirtualPatient:
    """One person: the UVA/Padova patient, a seeded CGM and an insulin pump.

    ``step`` advances the model minute by minute with the insulin the pump actually
    delivers and the carbohydrates eaten; ``cgm`` reads the sensor (with simglucose's
    seeded noise) at the current minute.
    """

    def __init__(
        self,
        name: str,
        *,
        seed: int,
        sensor: str = "GuardianRT",
        pump: str = "Insulet",
    ) -> None:
        if name not in COHORT:
            raise UsageError(
                f"unknown virtual patient {name!r}", hint="one of " + ", ".join(COHORT)
            )
        sg = _load()
        self._sg = sg
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            self._patient = sg.T1DPatient.withName(name)
            self._sensor = sg.CGMSensor.withName(sensor, seed=seed)
            self._pump = sg.InsulinPump.withName(pump)
        self._patient._params = _fast_params(self._patient._params)
        self._sensor_id = f"simglucose-{sensor}-{seed}"
        self._sample_time = int(self._sensor.sample_time)
        params = self._patient._params
        q = sg.quest[name]
        self.profile = PatientProfile(
            name=name,
            body_weight_kg=float(params.BW),
            basal_u_h=float(params.u2ss * params.BW / _U2PMOL * 60.0),
            carb_ratio_g_u=float(q.CR),
            isf_mg_dl_u=float(q.CF),
            total_daily_insulin_u=float(q.TDI),
            age_years=int(q.Age),
        )
        self._pending_carbs = 0.0

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def sensor_id(self) -> str:
        return self._sensor_id

    @property
    def sensor_sample_min(self) -> int:
        return self._sample_time

    @property
    def minute(self) -> int:
        """Minutes since the simulation started."""
        return round(float(self._patient.t))

    @property
    def blood_glucose(self) -> float:
        """True plasma glucose in mg/dL (ground truth, never seen by the device)."""
        p = self._patient
        return float(p.state[3] / p._params.Vg)

    def cgm(self) -> float:
        """The sensor's reading in mg/dL at the current minute (noise seeded, 39-600)."""
        if self.minute % self._sample_time != 0:
            raise UsageError(
                f"the {self._sensor.name} sensor reads every {self._sample_time} min, "
                f"not at minute {self.minute}"
            )
        return float(self._sensor.measure(self._patient))

    def pump_rate(self, rate_u_h: float) -> float:
        """The basal rate (U/h) the pump actually runs for a requested rate (its rounding)."""
        return float(self._pump.basal(max(rate_u_h, 0.0) / 60.0)) * 60.0

    def pump_bolus(self, units: float) -> float:
        """The bolus (U) the pump actually gives for a request (its rounding and limits)."""
        return float(self._pump.bolus(max(units, 0.0)))

    def eat(self, carbs_g: float) -> None:
        """Announce a meal; the model eats it at simglucose's 5 g/min."""
        if carbs_g < 0 or not math.isfinite(carbs_g):
            raise UsageError(f"carbohydrates must be >= 0 g, not {carbs_g}")
        self._pending_carbs += carbs_g

    def step(self, minutes: int, *, basal_u_h: float, bolus_u: float = 0.0) -> None:
        """Advance ``minutes`` with the pump running ``basal_u_h``; ``bolus_u`` in minute 1."""
        action = self._sg.Action
        for i in range(minutes):
            insulin = basal_u_h / 60.0 + (bolus_u if i == 0 else 0.0)
            carbs, self._pending_carbs = self._pending_carbs, 0.0
            self._patient.step(action(CHO=carbs, insulin=insulin))
