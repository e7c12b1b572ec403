"""The real OpenAPS oref0 0.7.1 under Node: fidelity to its CLI, behaviour, determinism, errors."""

from __future__ import annotations

import copy
import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from medwarden.errors import ConfigError, InputError, MedwardenError
from medwarden.telemetry.controllers.base import Controller
from medwarden.telemetry.controllers.errors import ControllerRunError, ControllerTimeoutError
from medwarden.telemetry.controllers.oref0 import (
    ALGORITHM,
    INPUT_KEYS,
    VERSION,
    Oref0Runner,
    default_oref0_dir,
    install_command,
    install_oref0,
    is_installed,
    normalise_output,
    validate_inputs,
)
from medwarden.telemetry.controllers.oref0 import main as oref0_main
from medwarden.telemetry.controllers.subprocess_runner import RunnerLimits
from tests.telemetry.controllers.scenarios import SCENARIOS, load_scenario


def inputs_of(name: str) -> dict[str, Any]:
    return copy.deepcopy(load_scenario(name)["inputs"])


def test_is_a_controller_with_the_logged_identity(oref0: Oref0Runner) -> None:
    assert isinstance(oref0, Controller)
    assert (
        (oref0.algorithm, oref0.version)
        == (ALGORITHM, VERSION)
        == ("oref0-determine-basal", "0.7.1")
    )
    hello = oref0.hello()
    assert hello["oref0_version"] == "0.7.1"
    assert hello["tz"] == "UTC"


@pytest.mark.parametrize("name", SCENARIOS)
def test_reproduces_oref0s_own_command_line_output(oref0: Oref0Runner, name: str) -> None:
    scenario = load_scenario(name)
    assert oref0.determine_basal(scenario["inputs"]) == scenario["cli_output"]


def test_low_and_falling_glucose_gives_a_zero_temp(oref0: Oref0Runner) -> None:
    inputs = inputs_of("low_falling")
    assert inputs["glucose_status"]["glucose"] < 80
    assert inputs["glucose_status"]["delta"] < 0
    out = oref0.decide(inputs)
    assert out["rate_u_h"] == 0.0
    assert out["duration_min"] >= 30
    assert out["smb_u"] == 0.0


def test_high_glucose_below_max_iob_gives_a_higher_temp(oref0: Oref0Runner) -> None:
    inputs = inputs_of("high_rising")
    assert inputs["iob_data"][0]["iob"] < inputs["profile"]["max_iob"]
    out = oref0.decide(inputs)
    assert out["rate_u_h"] > inputs["profile"]["current_basal"]
    assert out["rate_u_h"] <= inputs["profile"]["max_basal"]
    assert out["duration_min"] == 30


def test_iob_above_max_iob_gives_no_high_temp(oref0: Oref0Runner) -> None:
    inputs = inputs_of("high_iob_over_max")
    assert inputs["iob_data"][0]["iob"] > inputs["profile"]["max_iob"]
    out = oref0.decide(inputs)
    assert out["rate_u_h"] == inputs["profile"]["current_basal"]
    assert out["smb_u"] == 0.0


def test_smb_only_when_micro_bolus_is_allowed(oref0: Oref0Runner) -> None:
    inputs = inputs_of("smb_high")
    assert oref0.decide(inputs)["smb_u"] > 0
    inputs["micro_bolus_allowed"] = False
    assert oref0.decide(inputs)["smb_u"] == 0.0


def test_no_change_is_null_rate_and_duration(oref0: Oref0Runner) -> None:
    out = oref0.decide(inputs_of("in_range_running_temp"))
    assert (out["rate_u_h"], out["duration_min"], out["smb_u"]) == (None, None, 0.0)
    assert "reason" in out["raw"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_deterministic_same_inputs_same_output(oref0: Oref0Runner, name: str) -> None:
    first = oref0.decide(inputs_of(name))
    for _ in range(3):
        assert oref0.decide(inputs_of(name)) == first


def test_deterministic_across_processes(oref0_dir: Path) -> None:
    outputs = []
    for _ in range(2):
        with Oref0Runner(oref0_dir) as runner:
            outputs.append([runner.decide(inputs_of(n)) for n in SCENARIOS])
    assert outputs[0] == outputs[1]


def test_the_clock_is_the_logged_current_time(oref0: Oref0Runner) -> None:
    inputs = inputs_of("high_rising")
    assert oref0.determine_basal(inputs)["deliverAt"] == "2026-03-14T09:30:00.000Z"
    # Glucose 20 minutes older than the logged clock is "too old" to oref0 whatever the wall clock.
    inputs["current_time"] = "2026-03-14T09:50:00Z"
    raw = oref0.determine_basal(inputs)
    assert "too old" in raw["reason"]
    assert "rate" not in raw or raw["rate"] <= inputs["profile"]["current_basal"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("glucose_status", "glucose"), 260),
        (("glucose_status", "delta"), 12),
        (("iob_data", 0, "iob"), -1.5),
        (("profile", "sens"), 20),
        (("profile", "max_basal"), 2.5),
    ],
)
def test_a_tampered_input_changes_the_output(
    oref0: Oref0Runner, path: tuple[Any, ...], value: float
) -> None:
    inputs = inputs_of("high_rising")
    before = oref0.decide(inputs)
    target: Any = inputs
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert oref0.decide(inputs) != before


def test_iob_helper_reproduces_oref0s_shipped_example(oref0: Oref0Runner, oref0_dir: Path) -> None:
    examples = oref0_dir / "node_modules" / "oref0" / "examples"

    def load(name: str) -> Any:
        return json.loads((examples / name).read_text())

    iob = oref0.iob(
        load("pumphistory.json"), load("profile.json"), load("clock.json"), load("autosens.json")
    )
    assert iob == load("iob.json")
    assert len(iob) == 48


def test_glucose_status_helper(oref0: Oref0Runner) -> None:
    entries = [
        {"date": 1_700_000_000_000 - 300_000 * i, "glucose": 150 - 3 * i, "device": "cgm"}
        for i in range(9)
    ]
    status = oref0.glucose_status(entries)
    assert status["glucose"] == 150
    assert status["delta"] == 3
    assert status["date"] == 1_700_000_000_000
    assert "noise" not in status  # NaN in oref0, dropped for JSON


def test_meal_helper_counts_carbs(oref0: Oref0Runner) -> None:
    inputs = inputs_of("high_rising")
    profile = inputs["profile"]
    carbs = [{"created_at": "2026-03-14T09:00:00Z", "carbs": 30, "enteredBy": "test"}]
    at = [datetime(2026, 3, 14, 9, 30, tzinfo=UTC) - timedelta(minutes=5 * i) for i in range(36)]
    entries = [  # newest first; oref0's COB needs dateString (or display_time)
        {
            "date": int(t.timestamp() * 1000),
            "dateString": t.isoformat(),
            "glucose": 140 + 2 * i,
            "device": "cgm",
        }
        for i, t in enumerate(at)
    ]
    clock = "2026-03-14T09:30:00Z"
    meal = oref0.meal([], profile, profile["basalprofile"], clock, entries, carbs=carbs)
    assert meal["carbs"] == 30
    assert meal["mealCOB"] > 0
    no_carbs = oref0.meal([], profile, profile["basalprofile"], clock, entries)
    assert no_carbs["carbs"] == 0
    with pytest.raises(InputError, match="glucose_data is empty"):
        oref0.meal([], profile, profile["basalprofile"], clock, [])


def test_helpers_build_a_tuple_oref0_accepts(oref0: Oref0Runner) -> None:
    base = inputs_of("high_rising")
    clock = base["current_time"]
    history = [
        {"timestamp": "2026-03-14T08:00:00Z", "_type": "Bolus", "amount": 1.0, "duration": 0}
    ]
    entries = [
        {"date": 1773480600000 - 300_000 * i, "glucose": 180 - 4 * i, "device": "cgm"}
        for i in range(9)
    ]
    inputs = {
        **base,
        "iob_data": oref0.iob(history, base["profile"], clock),
        "glucose_status": oref0.glucose_status(entries),
    }
    out = oref0.decide(inputs)
    assert out["rate_u_h"] is not None
    assert out["rate_u_h"] > base["profile"]["current_basal"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda i: i.pop("profile"), "lack profile"),
        (lambda i: i.pop("current_time"), "lack current_time"),
        (lambda i: i.update(current_time="yesterday"), "not ISO 8601"),
        (lambda i: i.update(current_time="2026-03-14T09:30:00"), "no UTC offset"),
        (lambda i: i.update(micro_bolus_allowed="yes"), "true or false"),
        (lambda i: i["glucose_status"].update(glucose="120"), "glucose_status.glucose"),
        (lambda i: i["profile"].update(max_basal=None), "profile.max_basal"),
        (lambda i: i.update(iob_data=[]), "iob_data"),
        (lambda i: i.update(autosens=[1]), "autosens"),
    ],
)
def test_bad_inputs_are_input_errors(oref0: Oref0Runner, mutate: Any, message: str) -> None:
    inputs = inputs_of("high_rising")
    mutate(inputs)
    with pytest.raises(InputError, match=message):
        oref0.decide(inputs)


def test_oref0_refusing_inputs_is_an_input_error(oref0: Oref0Runner) -> None:
    inputs = inputs_of("high_rising")
    del inputs["profile"]["current_basal"]
    with pytest.raises(InputError):
        oref0.decide(inputs)
    inputs = inputs_of("high_rising")
    inputs["profile"].pop("min_bg")
    inputs["profile"]["min_bg"] = 100
    inputs["profile"].pop("max_bg")
    with pytest.raises(InputError, match=r"max_bg"):
        oref0.decide(inputs)


def test_validate_inputs_keeps_exactly_the_tuple_keys() -> None:
    inputs = inputs_of("low_falling")
    inputs["extra"] = "ignored"
    assert tuple(validate_inputs(inputs)) == INPUT_KEYS
    assert INPUT_KEYS == (
        "glucose_status",
        "currenttemp",
        "iob_data",
        "profile",
        "autosens",
        "meal_data",
        "micro_bolus_allowed",
        "reservoir_data",
        "current_time",
    )


def test_restarts_after_node_is_killed(fresh_oref0: Oref0Runner) -> None:
    inputs = inputs_of("high_rising")
    expected = fresh_oref0.decide(inputs)
    pid = fresh_oref0.subprocess.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while fresh_oref0.subprocess.pid is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fresh_oref0.decide(inputs) == expected
    assert fresh_oref0.subprocess.restarts == 1
    assert fresh_oref0.subprocess.pid not in (None, pid)


def test_timeout_is_enforced(oref0_dir: Path) -> None:
    inputs = inputs_of("high_rising")
    with Oref0Runner(oref0_dir, limits=RunnerLimits(timeout_s=0.001)) as runner:
        with pytest.raises(ControllerTimeoutError):  # Node cannot start and answer in 1 ms
            runner.decide(inputs)
        assert runner.subprocess.pid is None  # the child was killed


def test_missing_modules_are_a_config_error_with_the_install_command(tmp_path: Path) -> None:
    assert not is_installed(tmp_path)
    with pytest.raises(ConfigError, match="not installed") as info:
        Oref0Runner(tmp_path)
    assert info.value.code == "MW002"
    assert info.value.hint is not None
    assert install_command(tmp_path) in info.value.hint


def test_missing_node_is_a_config_error(oref0_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"Node\.js"):
        Oref0Runner(oref0_dir, node="medwarden-no-such-node")


def test_the_env_variable_selects_the_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MEDWARDEN_OREF0_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(ConfigError, match="elsewhere"):
        Oref0Runner()


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {"rate": 1.0},
        {"duration": 30},
        {"rate": -1, "duration": 30},
        {"rate": 1.0, "duration": 30.5},
        {"rate": 1.0, "duration": 30, "units": "1"},
    ],
)
def test_normalise_refuses_what_oref0_never_returns(raw: Any) -> None:
    with pytest.raises(MedwardenError):
        normalise_output(raw)


def test_normalise_output_treats_null_units_as_no_smb() -> None:
    assert normalise_output({"rate": 1.5, "duration": 30, "units": None})["smb_u"] == 0.0


def test_normalise_output() -> None:
    assert normalise_output({"rate": 0, "duration": 0, "reason": "x"}) == {
        "rate_u_h": 0.0,
        "duration_min": 0,
        "smb_u": 0.0,
        "raw": {"rate": 0, "duration": 0, "reason": "x"},
    }


def test_default_directory_is_in_the_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDWARDEN_OREF0_DIR", raising=False)
    path = default_oref0_dir()
    assert path.parts[-3:] == ("medwarden", "controllers", "oref0-0.7.1")


def test_install_is_idempotent(oref0_dir: Path) -> None:
    assert install_oref0(oref0_dir) == oref0_dir.resolve()
    assert is_installed(oref0_dir)


def test_install_without_npm_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="npm"):
        install_oref0(tmp_path / "target", npm="medwarden-no-such-npm")


def test_a_failing_npm_is_a_config_error_with_its_output(tmp_path: Path) -> None:
    fake = tmp_path / "fake-npm"
    fake.write_text("#!/bin/sh\necho 'npm ERR! registry unreachable' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(ConfigError, match="npm ci failed") as info:
        install_oref0(tmp_path / "target", npm=str(fake))
    assert any("registry unreachable" in line for line in info.value.details)


def test_install_command_line(oref0_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert oref0_main(["install", str(oref0_dir)]) == 0
    assert f"MEDWARDEN_OREF0_DIR={oref0_dir.resolve()}" in capsys.readouterr().out
    assert oref0_main([]) == 2
    assert oref0_main(["uninstall"]) == 2


def test_install_command_line_reports_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm here
    assert oref0_main(["install", str(tmp_path / "target")]) == 2
    assert "[MW002]" in capsys.readouterr().err


def test_the_callers_time_zone_does_not_matter(
    oref0: Oref0Runner, oref0_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = [oref0.decide(inputs_of(n)) for n in SCENARIOS]
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # a :30 offset, the worst case for getMinutes()
    with Oref0Runner(oref0_dir) as runner:
        assert runner.hello()["tz"] == "UTC"
        assert [runner.decide(inputs_of(n)) for n in SCENARIOS] == expected


def test_the_harness_refuses_unknown_ops_and_keeps_serving(fresh_oref0: Oref0Runner) -> None:
    with pytest.raises(ControllerRunError, match="unknown op"):
        fresh_oref0.subprocess.call("rm_rf", {})
    with pytest.raises(InputError, match="clock"):
        fresh_oref0.subprocess.call("iob", {"history": [], "profile": {}, "clock": "soon"})
    assert fresh_oref0.hello()["oref0_version"] == "0.7.1"
    assert fresh_oref0.subprocess.restarts == 0
