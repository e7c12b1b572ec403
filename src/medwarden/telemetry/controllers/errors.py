"""Errors of controller runners that are neither bad inputs nor missing settings.

A runner raises :class:`~medwarden.errors.InputError` (MW100) when the logged inputs
cannot be used and :class:`~medwarden.errors.ConfigError` (MW002) when its runtime (Node,
the oref0 modules) is missing.  What remains is the runner itself failing: the child
process crashed, answered something that is not the protocol, or did not answer in time.
Those are :class:`ControllerRunError` and :class:`ControllerTimeoutError`; a re-computation
that meets one is reported as "cannot re-compute" (fail closed), never as a match.
"""

from __future__ import annotations

from medwarden.errors import ControllerRunError, ControllerTimeoutError

__all__ = ["ControllerRunError", "ControllerTimeoutError"]
