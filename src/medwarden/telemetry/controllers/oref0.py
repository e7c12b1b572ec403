"""The OpenAPS oref0 ``determine-basal`` controller (released 0.7.1), run under Node.

:class:`Oref0Runner` implements :class:`~medwarden.telemetry.controllers.base.Controller`:
it keeps one Node process running ``harness.js`` (shipped in ``medwarden/data/controllers/
oref0``) through a :class:`~.subprocess_runner.SubprocessRunner` and feeds it the logged
input tuple of a ``controller_decision``.  The harness ``require``\\ s oref0's own
``lib/determine-basal/determine-basal`` and ``lib/basal-set-temp`` and pins the clock to
the logged ``current_time`` (TZ=UTC), so a decision is re-computed exactly as the rig made it.

The oref0 node modules are not part of the Python package.  They are installed with
``npm ci`` (versions pinned by the shipped ``package-lock.json``) into a directory found as
the ``oref0_dir`` argument > ``MEDWARDEN_OREF0_DIR`` > ``<user cache dir>/medwarden/
controllers/oref0-0.7.1``; :func:`install_oref0` (or ``python -m
medwarden.telemetry.controllers.oref0 install [DIR]``) does it.  A missing ``node`` or
missing modules is a :class:`~medwarden.errors.ConfigError` (MW002) naming the command.

Besides :meth:`Oref0Runner.decide`, the runner exposes the helpers a (simulated) rig uses to
build the input tuple the way OpenAPS does: :meth:`Oref0Runner.iob` (``lib/iob``),
:meth:`Oref0Runner.glucose_status` (``lib/glucose-get-last``) and :meth:`Oref0Runner.meal`
(``lib/meal``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs

from medwarden.errors import ConfigError, InputError, Location
from medwarden.telemetry.controllers.errors import ControllerRunError
from medwarden.telemetry.controllers.subprocess_runner import (
    RunnerLimits,
    SubprocessRunner,
    minimal_environment,
)
from medwarden.telemetry.records import JsonObject

__all__ = [
    "ALGORITHM",
    "ENV_DIR",
    "INPUT_KEYS",
    "VERSION",
    "Oref0Runner",
    "default_oref0_dir",
    "install_command",
    "install_oref0",
    "is_installed",
    "normalise_output",
    "validate_inputs",
]

ALGORITHM = "oref0-determine-basal"
"""The ``algorithm`` a rig logs for oref0's determine-basal."""

VERSION = "0.7.1"
"""The oref0 release this runner pins (``package.json``/``package-lock.json``)."""

ENV_DIR = "MEDWARDEN_OREF0_DIR"
"""Environment variable naming the directory that holds ``node_modules/oref0``."""

INPUT_KEYS = (
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
"""The keys of the logged ``inputs`` object: the arguments of ``determine_basal``."""

_DATA = ("data", "controllers", "oref0")
_NPM_FLAGS = ("ci", "--ignore-scripts", "--no-audit", "--no-fund", "--omit=dev")


def default_oref0_dir() -> Path:
    """``MEDWARDEN_OREF0_DIR`` or ``<user cache dir>/medwarden/controllers/oref0-0.7.1``."""
    configured = os.environ.get(ENV_DIR, "").strip()
    if configured:
        return Path(configured).expanduser()
    cache = Path(platformdirs.user_cache_dir("medwarden", appauthor=False))
    return cache / "controllers" / f"oref0-{VERSION}"


def _shipped(name: str) -> Path:
    """A file of ``medwarden/data/controllers/oref0`` as a real path (the package is on disk)."""
    path = Path(str(resources.files("medwarden").joinpath(*_DATA, name)))
    if not path.is_file():
        raise ConfigError(f"medwarden's oref0 harness file {name} is missing from {path.parent}")
    return path


def install_command(target: Path) -> str:
    """The shell command that installs the pinned oref0 modules into ``target``."""
    return f"{sys.executable} -m medwarden.telemetry.controllers.oref0 install {target}"


def is_installed(target: Path) -> bool:
    """Whether ``target`` holds oref0 0.7.1 installed from the shipped lock file."""
    manifest = target / "node_modules" / "oref0" / "package.json"
    lock = target / "package-lock.json"
    try:
        version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
        same_lock = lock.read_bytes() == _shipped("package-lock.json").read_bytes()
    except (OSError, ValueError, AttributeError):
        return False
    return version == VERSION and same_lock


@contextlib.contextmanager
def _install_lock(target: Path) -> Iterator[None]:
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install_oref0(target: Path | None = None, *, npm: str = "npm", timeout_s: float = 600) -> Path:
    """Install the pinned oref0 modules into ``target`` with ``npm ci``; return ``target``.

    Idempotent and safe to run from parallel processes (a file lock serialises them);
    install scripts are not run (oref0's determine-basal needs none).
    """
    target = (target or default_oref0_dir()).resolve()
    with _install_lock(target):
        if is_installed(target):
            return target
        npm_path = shutil.which(npm)
        if npm_path is None:
            raise ConfigError(f"npm ({npm}) is not on PATH", hint="install Node.js 20 and npm")
        target.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(_shipped(name), target / name)
        env = {**os.environ, "npm_config_update_notifier": "false"}
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [npm_path, *_NPM_FLAGS],
            cwd=target,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if done.returncode != 0 or not is_installed(target):
            raise ConfigError(
                f"npm ci failed to install oref0 {VERSION} into {target}",
                details=tuple(done.stderr.strip().splitlines()[-10:]),
                hint="check access to the npm registry",
            )
    return target


# -- inputs and outputs ---------------------------------------------------------------------


def _bad(message: str, pointer: str) -> InputError:
    return InputError(
        message, location=Location(pointer=pointer), hint="see docs/controllers.md: input tuple"
    )


def _object(inputs: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = inputs[key]
    if not isinstance(value, dict):
        raise _bad(f"oref0 input {key} must be an object", f"/inputs/{key}")
    return value


def _number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _check_glucose_status(status: dict[str, Any]) -> None:
    for key in ("glucose", "date", "delta", "short_avgdelta", "long_avgdelta"):
        if not _number(status.get(key)):
            raise _bad(
                f"oref0 input glucose_status.{key} must be a number",
                f"/inputs/glucose_status/{key}",
            )


def _check_iob(iob: object) -> None:
    first = iob[0] if isinstance(iob, list) and iob else iob
    if not isinstance(first, dict):
        raise _bad(
            "oref0 input iob_data must be an object or a non-empty array", "/inputs/iob_data"
        )
    for key in ("iob", "activity"):
        if not _number(first.get(key)):
            raise _bad(f"oref0 input iob_data {key} must be a number", "/inputs/iob_data")


def _check_profile(profile: dict[str, Any]) -> None:
    for key in ("current_basal", "max_basal", "max_iob", "min_bg", "max_bg", "sens"):
        if not _number(profile.get(key)):
            raise _bad(f"oref0 input profile.{key} must be a number", f"/inputs/profile/{key}")


def _check_time(text: object) -> str:
    if not isinstance(text, str):
        raise _bad("oref0 input current_time must be ISO 8601 text", "/inputs/current_time")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(
            f"oref0 input current_time {text!r} is not ISO 8601", "/inputs/current_time"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _bad(f"oref0 input current_time {text!r} has no UTC offset", "/inputs/current_time")
    return text


def validate_inputs(inputs: Mapping[str, Any]) -> JsonObject:
    """Return the ``determine_basal`` arguments of a logged input tuple, or raise InputError.

    All :data:`INPUT_KEYS` must be present (``autosens`` and ``reservoir_data`` may be
    null); extra keys are ignored (they cannot influence oref0).
    """
    if not isinstance(inputs, Mapping):
        raise _bad("oref0 inputs must be an object", "/inputs")
    missing = [key for key in INPUT_KEYS if key not in inputs]
    if missing:
        raise _bad("oref0 inputs lack " + ", ".join(missing), "/inputs")
    status = _object(inputs, "glucose_status")
    _check_glucose_status(status)
    _object(inputs, "currenttemp")
    _check_iob(inputs["iob_data"])
    _check_profile(_object(inputs, "profile"))
    if inputs["autosens"] is not None:
        _object(inputs, "autosens")
    _object(inputs, "meal_data")
    if not isinstance(inputs["micro_bolus_allowed"], bool):
        raise _bad("oref0 input micro_bolus_allowed must be true or false", "/inputs")
    _check_time(inputs["current_time"])
    return {key: inputs[key] for key in INPUT_KEYS}


def normalise_output(raw: object) -> JsonObject:
    """Map oref0's ``rT`` to ``{"rate_u_h", "duration_min", "smb_u", "raw"}``.

    ``rate``/``duration`` absent means "no change" (both null); ``units`` absent means no
    SMB (0).  A rate without a duration (or the reverse), a negative value or a
    non-integral duration is not something oref0 0.7.1 produces and raises
    :class:`~.errors.ControllerRunError`.
    """
    if not isinstance(raw, dict):
        raise ControllerRunError("oref0 answered determine_basal with something not an object")
    rate, duration = raw.get("rate"), raw.get("duration")
    units = 0 if raw.get("units") is None else raw["units"]
    if (rate is None) != (duration is None):
        raise ControllerRunError(f"oref0 returned rate {rate!r} with duration {duration!r}")
    for name, value in (("rate", rate), ("duration", duration), ("units", units)):
        if value is not None and (not _number(value) or value < 0):
            raise ControllerRunError(f"oref0 returned an invalid {name}: {value!r}")
    if duration is not None and float(duration) != int(duration):
        raise ControllerRunError(f"oref0 returned a non-integral duration {duration!r}")
    return {
        "rate_u_h": None if rate is None else float(rate),
        "duration_min": None if duration is None else int(duration),
        "smb_u": float(units),
        "raw": raw,
    }


# -- the runner ------------------------------------------------------------------------------


class Oref0Runner:
    """OpenAPS oref0 0.7.1 ``determine-basal`` in a long-lived Node process."""

    __slots__ = ("_dir", "_runner")

    def __init__(
        self,
        oref0_dir: Path | str | None = None,
        *,
        node: str = "node",
        limits: RunnerLimits | None = None,
    ) -> None:
        directory = Path(oref0_dir).expanduser() if oref0_dir else default_oref0_dir()
        node_path = shutil.which(node)
        if node_path is None:
            raise ConfigError(
                f"Node.js ({node}) is not on PATH: oref0 cannot be re-computed",
                hint="install Node.js 20 (e.g. apt-get install nodejs npm), then "
                + install_command(directory),
            )
        if not is_installed(directory):
            raise ConfigError(
                f"oref0 {VERSION} is not installed in {directory}",
                hint=f"run: {install_command(directory)}  (or set {ENV_DIR})",
            )
        self._dir = directory.resolve()
        env = minimal_environment({ENV_DIR: str(self._dir), "NODE_ENV": "production"})
        self._runner = SubprocessRunner(
            [node_path, "--no-warnings", str(_shipped("harness.js"))],
            env=env,
            cwd=self._dir,
            limits=limits,
            name=f"oref0 {VERSION}",
        )

    @property
    def algorithm(self) -> str:
        """``oref0-determine-basal``."""
        return ALGORITHM

    @property
    def version(self) -> str:
        """``0.7.1``."""
        return VERSION

    @property
    def oref0_dir(self) -> Path:
        """The directory holding ``node_modules/oref0``."""
        return self._dir

    @property
    def subprocess(self) -> SubprocessRunner:
        """The underlying runner (for restarts, pid and stderr inspection)."""
        return self._runner

    def __enter__(self) -> Oref0Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def hello(self) -> JsonObject:
        """``{"oref0_version", "node_version", "tz"}`` as the Node process reports them."""
        result = self._runner.call("hello", {})
        if not isinstance(result, dict) or result.get("oref0_version") != VERSION:
            raise ConfigError(f"the Node harness loaded oref0 {result!r}, not {VERSION}")
        return result

    def decide(self, inputs: JsonObject) -> JsonObject:
        """Re-compute one decision from its logged input tuple (normalised + ``raw``)."""
        return normalise_output(self.determine_basal(inputs))

    def determine_basal(self, inputs: JsonObject) -> JsonObject:
        """oref0's verbatim ``rT`` for a logged input tuple (validated first)."""
        raw = self._runner.call("determine_basal", validate_inputs(inputs))
        if not isinstance(raw, dict):
            raise ControllerRunError("oref0 answered determine_basal with something not an object")
        return raw

    def iob(
        self,
        history: Sequence[JsonObject],
        profile: JsonObject,
        clock: str,
        autosens: JsonObject | None = None,
    ) -> list[JsonObject]:
        """oref0 ``lib/iob``: the IOB array (48 five-minute steps) from pump history at ``clock``.

        ``history`` is pump history as oref0 reads it (``_type`` ``Bolus``, ``TempBasal``,
        ``TempBasalDuration``, ... with ``timestamp``); ``clock`` is ISO 8601 with an offset.
        Its first element (or the whole array) is the ``iob_data`` input of a decision.
        """
        args: JsonObject = {"history": list(history), "profile": profile, "clock": clock}
        if autosens is not None:
            args["autosens"] = autosens
        result = self._runner.call("iob", args)
        if not isinstance(result, list):
            raise ControllerRunError("oref0 answered iob with something not an array")
        return result

    def glucose_status(self, glucose_data: Sequence[JsonObject]) -> JsonObject:
        """oref0 ``lib/glucose-get-last``: glucose, deltas and date, newest entry first.

        Entries carry ``glucose`` (or ``sgv``) in mg/dL, ``date`` (ms since the epoch) and
        ``device``; oref0 only averages entries of the newest entry's device.
        """
        result = self._runner.call("glucose_status", {"glucose_data": list(glucose_data)})
        if not isinstance(result, dict):
            raise ControllerRunError("oref0 answered glucose_status with something not an object")
        return result

    def meal(
        self,
        history: Sequence[JsonObject],
        profile: JsonObject,
        basalprofile: Sequence[JsonObject],
        clock: str,
        glucose_data: Sequence[JsonObject],
        *,
        carbs: Sequence[JsonObject] = (),
    ) -> JsonObject:
        """oref0 ``lib/meal``: the ``meal_data`` input (COB, carbs, deviations) at ``clock``.

        ``glucose_data`` (CGM entries, newest first) must not be empty; ``carbs`` are
        Nightscout-style treatments (``created_at``, ``carbs``).
        """
        args = {
            "history": list(history),
            "profile": profile,
            "basalprofile": list(basalprofile),
            "clock": clock,
            "carbs": list(carbs),
            "glucose_data": list(glucose_data),
        }
        result = self._runner.call("meal", args)
        if not isinstance(result, dict):
            raise ControllerRunError("oref0 answered meal with something not an object")
        return result

    def close(self) -> None:
        """Stop the Node process."""
        self._runner.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m medwarden.telemetry.controllers.oref0 install [DIR]``: install the modules."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "install" or len(args) > 2:
        sys.stderr.write("usage: python -m medwarden.telemetry.controllers.oref0 install [DIR]\n")
        return 2
    try:
        target = install_oref0(Path(args[1]) if len(args) == 2 else None)
    except ConfigError as exc:
        sys.stderr.write(exc.diagnostics() + "\n")
        return 2
    sys.stdout.write(f"oref0 {VERSION} installed in {target}\nexport {ENV_DIR}={target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
