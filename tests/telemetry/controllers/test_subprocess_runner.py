"""The line-protocol subprocess runner: answers, timeouts, crashes, restarts, bounds, close."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from medwarden.errors import ConfigError, InputError
from medwarden.telemetry.controllers.errors import ControllerRunError, ControllerTimeoutError
from medwarden.telemetry.controllers.subprocess_runner import (
    RunnerLimits,
    SubprocessRunner,
    minimal_environment,
)

CHILD = [sys.executable, str(Path(__file__).with_name("fake_child.py"))]


@pytest.fixture
def runner() -> Iterator[SubprocessRunner]:
    with SubprocessRunner(CHILD, limits=RunnerLimits(timeout_s=5.0), name="fake") as r:
        yield r


def test_answers_and_keeps_one_process(runner: SubprocessRunner) -> None:
    assert runner.call("echo", {"a": [1, 2.5, None, "x"]}) == {"a": [1, 2.5, None, "x"]}
    pid = runner.pid
    assert pid is not None
    for i in range(20):
        assert runner.call("echo", {"i": i}) == {"i": i}
    assert runner.pid == pid
    assert runner.restarts == 0


def test_timeout_kills_the_child_and_the_next_call_restarts(runner: SubprocessRunner) -> None:
    first = runner.call("pid", {})
    started = time.monotonic()
    with pytest.raises(ControllerTimeoutError, match=r"within 0\.3 s") as info:
        runner.call("sleep", {"s": 30}, timeout_s=0.3)
    assert time.monotonic() - started < 5
    assert info.value.code == "MW601"
    second = runner.call("pid", {})
    assert second != first
    assert runner.restarts == 1


def test_crash_raises_with_stderr_then_restarts(runner: SubprocessRunner) -> None:
    runner.call("echo", {})
    with pytest.raises(ControllerRunError, match="exit status 7") as info:
        runner.call("crash", {})
    assert any("crashing on purpose" in d for d in info.value.details)
    assert runner.call("echo", {"back": True}) == {"back": True}
    assert runner.restarts == 1


def test_restarts_after_the_child_is_killed_from_outside(runner: SubprocessRunner) -> None:
    pid = runner.call("pid", {})
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while runner.pid is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.call("echo", {"ok": 1}) == {"ok": 1}
    assert runner.call("pid", {}) != pid
    assert runner.restarts == 1


@pytest.mark.parametrize(
    ("op", "message"),
    [
        ("garbage", "not JSON"),
        ("wrong_id", "another request"),
        ("partial", "without ok/result/error"),
    ],
)
def test_malformed_responses_raise_and_kill(
    runner: SubprocessRunner, op: str, message: str
) -> None:
    pid = runner.call("pid", {})
    with pytest.raises(ControllerRunError, match=message):
        runner.call(op, {})
    assert runner.call("pid", {}) != pid  # the untrustworthy stream was dropped


def test_too_long_response_raises() -> None:
    limits = RunnerLimits(timeout_s=5.0, max_response_bytes=4096)
    with SubprocessRunner(CHILD, limits=limits) as r:
        with pytest.raises(ControllerRunError, match="longer than 4096"):
            r.call("huge", {"n": 100_000})
        assert r.call("echo", {"after": 1}) == {"after": 1}


def test_error_answers_map_to_typed_errors(runner: SubprocessRunner) -> None:
    with pytest.raises(InputError, match="refused the inputs"):
        runner.call("input", {})
    with pytest.raises(ControllerRunError, match="boom"):
        runner.call("fail", {})
    assert runner.restarts == 0  # error answers keep the protocol intact


def test_arguments_must_be_plain_json(runner: SubprocessRunner) -> None:
    with pytest.raises(InputError, match="not plain JSON"):
        runner.call("echo", {"x": float("nan")})
    with pytest.raises(InputError, match="not plain JSON"):
        runner.call("echo", {"x": object()})


def test_stderr_is_drained_and_bounded() -> None:
    limits = RunnerLimits(timeout_s=10.0, stderr_limit=1000)
    with SubprocessRunner(CHILD, limits=limits) as r:
        # 1 MB of stderr would block a child whose stderr pipe nobody reads.
        assert r.call("noisy", {"n": 1_000_000}) == {"n": 1_000_000}
        time.sleep(0.1)
        tail = r.stderr_tail
        assert 0 < len(tail) <= 1000
        assert set(tail) == {"x"}


def test_close_is_clean_idempotent_and_final() -> None:
    r = SubprocessRunner(CHILD)
    pid = r.call("pid", {})
    r.close()
    r.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ControllerRunError, match="closed"):
        r.call("echo", {})


STUBBORN = """
import json, os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
request = json.loads(sys.stdin.readline())
print(json.dumps({"id": request["id"], "ok": True, "result": os.getpid()}), flush=True)
while True:
    time.sleep(1)
"""


def test_close_kills_a_child_that_ignores_eof_and_sigterm() -> None:
    r = SubprocessRunner([sys.executable, "-c", STUBBORN], limits=RunnerLimits(close_grace_s=0.2))
    pid = r.call("pid", {})
    started = time.monotonic()
    r.close()
    assert time.monotonic() - started < 8
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_calls_from_threads_are_serialised(runner: SubprocessRunner) -> None:
    results: dict[int, object] = {}

    def work(n: int) -> None:
        for i in range(25):
            results[n * 100 + i] = runner.call("echo", {"v": n * 100 + i})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {k: {"v": k} for k in results}
    assert len(results) == 100


def test_a_missing_program_is_a_config_error() -> None:
    with (
        SubprocessRunner(["/nonexistent/medwarden-controller"]) as r,
        pytest.raises(ConfigError, match="cannot start"),
    ):
        r.call("echo", {})
    with pytest.raises(ConfigError):
        SubprocessRunner([])


def test_child_that_exits_at_once_fails_without_hanging() -> None:
    with (
        SubprocessRunner([sys.executable, "-c", "import sys; sys.exit(3)"]) as r,
        pytest.raises(ControllerRunError, match="exited"),
    ):
        r.call("echo", {})


def test_limits_are_checked() -> None:
    with pytest.raises(ConfigError):
        RunnerLimits(timeout_s=0)
    with pytest.raises(ConfigError):
        RunnerLimits(max_response_bytes=10)


def test_minimal_environment_pins_time_zone_and_locale() -> None:
    env = minimal_environment({"EXTRA": "1"})
    assert env["TZ"] == "UTC"
    assert env["LC_ALL"] == "C"
    assert env["EXTRA"] == "1"
    assert set(env) == {"PATH", "TZ", "LC_ALL", "EXTRA"}


def test_a_dropped_runner_kills_its_child() -> None:
    r = SubprocessRunner(CHILD)
    pid = r.call("pid", {})
    del r
    gc.collect()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
