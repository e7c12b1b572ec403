"""The one interface every controller runner offers: inputs in, normalised output out.

A :class:`Controller` runs one released version of one algorithm.  ``decide`` takes the
logged input tuple of a ``controller_decision`` record (its ``inputs`` object) and returns
the normalised output object ``{"rate_u_h": float | None, "duration_min": int | None,
"smb_u": float}`` (see ``docs/telemetry.md``), plus the algorithm's verbatim output under
``"raw"`` where it has one.  Runners are deterministic: the same inputs give the same output.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from medwarden.telemetry.records import JsonObject

__all__ = ["Controller"]


@runtime_checkable
class Controller(Protocol):
    """One released controller version."""

    @property
    def algorithm(self) -> str:
        """The algorithm id a device logs (e.g. ``oref0-determine-basal``)."""
        ...

    @property
    def version(self) -> str:
        """The released version a device logs (e.g. ``0.7.1``)."""
        ...

    def decide(self, inputs: JsonObject) -> JsonObject:
        """Return the normalised output for ``inputs``; raise ``InputError`` on bad inputs."""
        ...

    def close(self) -> None:
        """Release what the runner holds (a subprocess, for out-of-process runners)."""
        ...
