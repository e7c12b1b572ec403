"""A long-lived child process spoken to in line-delimited JSON, that never hangs its caller.

Protocol (one JSON object per line, UTF-8, both directions)::

    request  {"id": <int>, "op": <text>, "args": <object>}
    response {"id": <int>, "ok": true,  "result": <any>}
           | {"id": <int>, "ok": false, "error": {"type": "input" | <text>, "message": <text>}}

The runner starts the child on the first :meth:`SubprocessRunner.call`, serialises calls
(one request in flight; a lock makes it safe to share between threads) and guarantees:

* **time limit** - a call that gets no answer within its timeout kills the child and
  raises :class:`~.errors.ControllerTimeoutError`; the next call starts a fresh child;
* **crash recovery** - a child that exits (killed, crashed) makes the call in flight raise
  :class:`~.errors.ControllerRunError` with the tail of its stderr; the next call restarts
  it (:attr:`SubprocessRunner.restarts` counts restarts);
* **strict protocol** - a response that is not JSON, is too long, or answers another id
  kills the child (the stream can no longer be trusted) and raises ``ControllerRunError``;
  ``{"ok": false, "error": {"type": "input"}}`` raises :class:`~medwarden.errors.InputError`;
* **bounded stderr** - the child's stderr is drained continuously (so the child never
  blocks on a full pipe) and only its last ``stderr_limit`` bytes are kept;
* **clean close** - :meth:`close` closes stdin, waits briefly for the child to exit, then
  terminates and finally kills it, and joins the reader threads.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import subprocess
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

from medwarden.errors import ConfigError, InputError
from medwarden.telemetry.controllers.errors import ControllerRunError, ControllerTimeoutError

__all__ = ["DEFAULT_TIMEOUT_S", "RunnerLimits", "SubprocessRunner"]

DEFAULT_TIMEOUT_S = 10.0
"""How long one call may take by default, in seconds."""

_EOF = object()


@dataclass(frozen=True, slots=True)
class RunnerLimits:
    """Bounds of a :class:`SubprocessRunner` (seconds and bytes)."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    close_grace_s: float = 2.0
    stderr_limit: int = 64 * 1024
    max_response_bytes: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        if not self.timeout_s > 0 or not self.close_grace_s >= 0:
            raise ConfigError("runner timeouts must be positive numbers of seconds")
        if self.stderr_limit < 0 or self.max_response_bytes < 1024:
            raise ConfigError("runner byte limits must be >= 0 (stderr) and >= 1024 (responses)")


class _StderrTail:
    """The last ``limit`` bytes a child wrote to stderr, drained by a thread."""

    __slots__ = ("_buffer", "_limit", "_lock")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buffer = bytearray()
        self._lock = threading.Lock()

    def drain(self, stream: IO[bytes]) -> None:
        """Read ``stream`` to its end, keeping the tail (runs in a daemon thread)."""
        with contextlib.suppress(OSError, ValueError):
            for chunk in iter(lambda: stream.read1(4096), b""):  # type: ignore[attr-defined]
                with self._lock:
                    self._buffer += chunk
                    if len(self._buffer) > self._limit:
                        del self._buffer[: len(self._buffer) - self._limit]

    def text(self) -> str:
        """The kept tail, decoded leniently."""
        with self._lock:
            return self._buffer.decode("utf-8", errors="replace")


class _Child:
    """One generation of the child process with its reader threads."""

    __slots__ = ("lines", "proc", "stderr", "threads")

    def __init__(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None, limits: RunnerLimits
    ) -> None:
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - argv is built by the runner, no shell
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot start controller process {argv[0]!r}: {exc.strerror or exc}",
                hint="check that the program is installed and on PATH",
            ) from None
        self.lines: queue.Queue[object] = queue.Queue()
        self.stderr = _StderrTail(limits.stderr_limit)
        assert self.proc.stdout is not None  # noqa: S101
        assert self.proc.stderr is not None  # noqa: S101
        self.threads = (
            threading.Thread(
                target=self._read_lines,
                args=(self.proc.stdout, limits.max_response_bytes),
                daemon=True,
            ),
            threading.Thread(target=self.stderr.drain, args=(self.proc.stderr,), daemon=True),
        )
        for thread in self.threads:
            thread.start()

    def _read_lines(self, stream: IO[bytes], limit: int) -> None:
        with contextlib.suppress(OSError, ValueError):
            while True:
                line = stream.readline(limit + 1)
                if not line:
                    break
                self.lines.put(line)
        self.lines.put(_EOF)

    def send(self, data: bytes) -> None:
        """Write one request line; a dead child raises ``BrokenPipeError``/``OSError``."""
        stdin = self.proc.stdin
        assert stdin is not None  # noqa: S101
        stdin.write(data)
        stdin.flush()

    def stop(self, grace_s: float) -> None:
        """End the child: close stdin, wait ``grace_s``, terminate, kill; reap and join."""
        proc = self.proc
        with contextlib.suppress(OSError, ValueError):
            if proc.stdin is not None:
                proc.stdin.close()
        for step in (None, proc.terminate, proc.kill):
            if step is not None:
                with contextlib.suppress(OSError):
                    step()
            try:
                proc.wait(timeout=grace_s if step is None else 2.0)
                break
            except subprocess.TimeoutExpired:
                continue
        for thread in self.threads:
            thread.join(timeout=2.0)
        for stream in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.close()

    def kill(self) -> None:
        """End the child at once (after a timeout or a protocol violation)."""
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.stop(0.0)


class SubprocessRunner:
    """A long-lived child process answering line-delimited JSON requests (see module doc)."""

    __slots__ = (
        "__weakref__",
        "_argv",
        "_child",
        "_closed",
        "_cwd",
        "_env",
        "_finalizer",
        "_ids",
        "_limits",
        "_lock",
        "_name",
        "_restarts",
        "_starts",
    )

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        limits: RunnerLimits | None = None,
        name: str = "controller",
    ) -> None:
        if not argv:
            raise ConfigError("a subprocess runner needs a program to run")
        self._argv = tuple(argv)
        self._env = dict(env) if env is not None else minimal_environment()
        self._cwd = cwd
        self._limits = limits or RunnerLimits()
        self._name = name
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._child: _Child | None = None
        self._finalizer: weakref.finalize[[], SubprocessRunner] | None = None
        self._closed = False
        self._starts = 0
        self._restarts = 0

    @property
    def restarts(self) -> int:
        """How many times the child was started again after the first start."""
        return self._restarts

    @property
    def pid(self) -> int | None:
        """The running child's process id, or None when none is running."""
        child = self._child
        return child.proc.pid if child is not None and child.proc.poll() is None else None

    @property
    def stderr_tail(self) -> str:
        """The last bytes the current (or last) child wrote to stderr."""
        return self._child.stderr.text() if self._child is not None else ""

    def __enter__(self) -> SubprocessRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, op: str, args: Mapping[str, Any], *, timeout_s: float | None = None) -> Any:
        """Send one request and return its ``result``; see the module doc for the errors."""
        try:
            payload = json.dumps({"op": op, "args": args}, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise InputError(f"{self._name} request {op!r} is not plain JSON: {exc}") from None
        limit = self._limits.timeout_s if timeout_s is None else timeout_s
        with self._lock:
            if self._closed:
                raise ControllerRunError(f"{self._name} runner is closed")
            child = self._running_child()
            request_id = next(self._ids)
            line = f'{{"id":{request_id},{payload[1:]}\n'.encode()
            try:
                child.send(line)
            except (OSError, ValueError):
                self._fail(child, f"{self._name} process exited before the request")
            return self._await(child, request_id, op, time.monotonic() + limit, limit)

    def close(self) -> None:
        """Stop the child (if any) and refuse further calls; safe to call twice."""
        with self._lock:
            self._closed = True
            child, self._child = self._child, None
        if child is not None:
            child.stop(self._limits.close_grace_s)

    # -- internals -------------------------------------------------------------------

    def _running_child(self) -> _Child:
        child = self._child
        if child is not None and child.proc.poll() is None:
            return child
        if child is not None:
            child.stop(0.0)
            self._restarts += 1
        self._child = _Child(self._argv, self._env, self._cwd, self._limits)
        if self._finalizer is not None:
            self._finalizer.detach()
        # A runner dropped without close() still kills its child when it is collected.
        self._finalizer = weakref.finalize(self, self._child.kill)
        self._starts += 1
        return self._child

    def _await(self, child: _Child, request_id: int, op: str, deadline: float, limit: float) -> Any:
        try:
            item = child.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            child.kill()
            raise ControllerTimeoutError(
                f"{self._name} did not answer {op!r} within {limit:g} s; the process was killed",
                details=_tail_details(child),
            ) from None
        if item is _EOF:
            self._fail(child, f"{self._name} process exited while answering {op!r}")
        assert isinstance(item, bytes)  # noqa: S101
        return self._decode(child, request_id, op, item)

    def _decode(self, child: _Child, request_id: int, op: str, line: bytes) -> Any:
        if len(line) > self._limits.max_response_bytes:
            self._protocol(child, f"a response longer than {self._limits.max_response_bytes} bytes")
        try:
            message = json.loads(line)
        except ValueError:
            self._protocol(child, f"a response that is not JSON: {line[:200]!r}")
        if not isinstance(message, dict) or message.get("id") != request_id:
            self._protocol(child, f"a response for another request: {line[:200]!r}")
        if message.get("ok") is True and "result" in message:
            return message["result"]
        error = message.get("error")
        if message.get("ok") is False and isinstance(error, dict):
            text = str(error.get("message", "unknown error"))
            if error.get("type") == "input":
                raise InputError(f"{self._name} refused the inputs of {op!r}: {text}")
            raise ControllerRunError(f"{self._name} failed on {op!r}: {text}")
        self._protocol(child, f"a response without ok/result/error: {line[:200]!r}")

    def _protocol(self, child: _Child, what: str) -> NoReturn:
        child.kill()
        raise ControllerRunError(
            f"{self._name} broke the line protocol with {what}; the process was killed",
            details=_tail_details(child),
        )

    def _fail(self, child: _Child, message: str) -> NoReturn:
        child.stop(0.0)
        code = child.proc.returncode
        raise ControllerRunError(
            f"{message} (exit status {code})",
            details=_tail_details(child),
            hint="the next call starts the process again",
        )


def _tail_details(child: _Child) -> tuple[str, ...]:
    tail = child.stderr.text().strip()
    return (f"stderr: {tail[-2000:]}",) if tail else ()


def minimal_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A small, deterministic child environment: PATH, TZ=UTC, LC_ALL=C plus ``extra``."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "TZ": "UTC", "LC_ALL": "C"}
    env.update(extra or {})
    return env
