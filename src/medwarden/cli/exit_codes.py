"""The one mapping from outcomes to process exit codes (see ``docs/cli.md``).

====  ==========================================================================
code  meaning
====  ==========================================================================
0     success; for ``scan``: no active finding at or above ``--fail-on``
1     ``scan`` found an active finding at or above ``--fail-on``
2     usage or input error: bad option, unreadable or malformed SBOM/VEX/intel
      file, unusable configuration (:class:`UsageError`, :class:`InputError`,
      :class:`ConfigError`, :class:`AccessError`); the error's diagnostics go to stderr
3     internal or store error: the database failed, or a bug in medwarden
4     integrity check failed (:class:`VerificationError`): for ``audit verify``,
      an audit event was altered, deleted, inserted or reordered
====  ==========================================================================
"""

from __future__ import annotations

from enum import IntEnum

from medwarden.errors import (
    AccessError,
    ConfigError,
    InputError,
    MedwardenError,
    UsageError,
    VerificationError,
)

__all__ = ["ExitCode", "exit_code_for"]


class ExitCode(IntEnum):
    """Process exit codes of the ``medwarden`` command."""

    OK = 0
    FINDINGS = 1
    USAGE = 2
    INTERNAL = 3
    INTEGRITY = 4


def exit_code_for(error: BaseException) -> ExitCode:
    """Return the exit code for an error that ended a command."""
    if isinstance(error, UsageError | InputError | ConfigError | AccessError):
        return ExitCode.USAGE
    if isinstance(error, VerificationError):
        return ExitCode.INTEGRITY
    if isinstance(error, MedwardenError):
        return ExitCode.INTERNAL
    return ExitCode.INTERNAL
