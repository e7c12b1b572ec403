"""The explicit controller registry and the in-process reference controller."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.errors import ConfigError, InputError
from medwarden.telemetry.controllers.base import Controller
from medwarden.telemetry.controllers.inprocess import ProportionalBasalController
from medwarden.telemetry.controllers.registry import ControllerRegistry
from tests.telemetry.controllers.scenarios import load_scenario


class Closing:
    """A controller that records close() and can fail it."""

    def __init__(self, algorithm: str, version: str, fail: bool = False) -> None:
        self._key = (algorithm, version)
        self.closed = False
        self.fail = fail

    @property
    def algorithm(self) -> str:
        return self._key[0]

    @property
    def version(self) -> str:
        return self._key[1]

    def decide(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"rate_u_h": None, "duration_min": None, "smb_u": 0.0}

    def close(self) -> None:
        self.closed = True
        if self.fail:
            raise ConfigError("close failed")


def test_registry_keys_by_algorithm_and_version() -> None:
    a, b = Closing("algo", "1"), Closing("algo", "2")
    registry = ControllerRegistry(a, b)
    assert registry.get("algo", "1") is a
    assert registry.get("algo", "2") is b
    assert ("algo", "1") in registry
    assert list(registry) == [("algo", "1"), ("algo", "2")]
    assert len(registry) == 2


def test_registry_refuses_duplicates_and_non_controllers() -> None:
    registry = ControllerRegistry(Closing("algo", "1"))
    with pytest.raises(ConfigError, match="already registered"):
        registry.register(Closing("algo", "1"))
    with pytest.raises(ConfigError, match="Controller protocol"):
        registry.register(object())  # type: ignore[arg-type]


def test_registry_unknown_key_names_what_is_registered() -> None:
    registry = ControllerRegistry(Closing("algo", "1"))
    with pytest.raises(ConfigError, match="no controller runner") as info:
        registry.get("algo", "9")
    assert info.value.hint == "registered: algo 1"


def test_registry_close_closes_all_even_when_one_fails() -> None:
    a, b = Closing("a", "1", fail=True), Closing("b", "1")
    with pytest.raises(ConfigError, match="close failed"), ControllerRegistry(a, b):
        pass
    assert a.closed
    assert b.closed


def test_reference_controller_is_a_controller() -> None:
    controller = ProportionalBasalController()
    assert isinstance(controller, Controller)
    assert (controller.algorithm, controller.version) == ("medwarden-proportional-basal", "1")
    controller.close()


def test_reference_controller_behaviour_on_oref0_scenarios() -> None:
    controller = ProportionalBasalController()
    low = controller.decide(load_scenario("low_falling")["inputs"])
    assert low["rate_u_h"] == 0.0
    high_inputs = load_scenario("high_rising")["inputs"]
    high = controller.decide(high_inputs)
    assert high["rate_u_h"] > high_inputs["profile"]["current_basal"]
    assert high["rate_u_h"] <= high_inputs["profile"]["max_basal"]
    assert high["smb_u"] == 0.0
    assert controller.decide(copy.deepcopy(high_inputs)) == high


def test_reference_controller_refuses_bad_inputs() -> None:
    controller = ProportionalBasalController()
    inputs = copy.deepcopy(load_scenario("high_rising")["inputs"])
    inputs["profile"]["sens"] = 0
    with pytest.raises(InputError, match="sens"):
        controller.decide(inputs)
    inputs["glucose_status"] = "high"
    with pytest.raises(InputError, match="glucose_status"):
        controller.decide(inputs)
    inputs["glucose_status"] = {"glucose": True, "delta": 0}
    with pytest.raises(InputError, match="glucose"):
        controller.decide(inputs)


@given(
    bg=st.floats(39, 400),
    delta=st.floats(-20, 20),
    iob=st.floats(-3, 15),
)
def test_reference_controller_stays_within_its_profile(bg: float, delta: float, iob: float) -> None:
    inputs = copy.deepcopy(load_scenario("high_rising")["inputs"])
    inputs["glucose_status"].update(glucose=bg, delta=delta)
    inputs["iob_data"] = {"iob": iob, "activity": 0}
    out = ProportionalBasalController().decide(inputs)
    profile = inputs["profile"]
    assert 0 <= out["rate_u_h"] <= profile["max_basal"]
    assert abs(out["rate_u_h"] * 20 - round(out["rate_u_h"] * 20)) < 1e-6
    if iob >= profile["max_iob"]:
        assert out["rate_u_h"] <= profile["current_basal"] + 1e-9
