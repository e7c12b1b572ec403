"""The explicit registry of checks: check id -> check, refusing duplicate ids.

:func:`default_registry` returns a *new* registry holding the built-in checks; callers add
their own (for example a check wrapping controller re-computation or the safety
envelope) with :meth:`CheckRegistry.register`.  There is no global mutable registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from medwarden.errors import ConflictError, NotFoundError
from medwarden.telemetry.checks.actuation import ActuationLimitsCheck
from medwarden.telemetry.checks.base import Check, Lookback, valid_check_id
from medwarden.telemetry.checks.confirmation import CommandConfirmationCheck
from medwarden.telemetry.checks.envelope_check import SafetyEnvelopeCheck
from medwarden.telemetry.checks.limits import DeviceLimits
from medwarden.telemetry.checks.recompute_check import ControllerLookup, ControllerRecomputeCheck
from medwarden.telemetry.checks.sensor_quality import SensorQualityCheck
from medwarden.telemetry.checks.sequence import ChainGapCheck
from medwarden.telemetry.checks.staleness import StaleDataCheck
from medwarden.telemetry.checks.timebase import TimeBaseCheck

__all__ = ["CheckRegistry", "closed_loop_registry", "default_registry"]


class CheckRegistry:
    """Checks by id; iteration is in id order so that runs are deterministic."""

    def __init__(self, checks: Iterable[Check] = ()) -> None:
        self._checks: dict[str, Check] = {}
        for check in checks:
            self.register(check)

    def register(self, check: Check) -> None:
        """Add ``check``; raise :class:`ConflictError` when its id is already taken."""
        check_id = valid_check_id(check.check_id)
        if check_id in self._checks:
            raise ConflictError(f"a check with id {check_id!r} is already registered")
        self._checks[check_id] = check

    def get(self, check_id: str) -> Check:
        """Return the check ``check_id``; raise :class:`NotFoundError` when unknown."""
        try:
            return self._checks[check_id]
        except KeyError:
            raise NotFoundError(f"no check with id {check_id!r} is registered") from None

    def __contains__(self, check_id: object) -> bool:
        return check_id in self._checks

    def __iter__(self) -> Iterator[Check]:
        return iter([self._checks[key] for key in sorted(self._checks)])

    def __len__(self) -> int:
        return len(self._checks)

    def ids(self) -> tuple[str, ...]:
        """The registered ids, sorted."""
        return tuple(sorted(self._checks))

    def lookback(self, limits: DeviceLimits) -> Lookback:
        """The union of every registered check's look-back for ``limits``."""
        total = Lookback()
        for check in self:
            total = total.union(check.lookback(limits))
        return total


def default_registry() -> CheckRegistry:
    """Return a new registry with the built-in per-device checks (fleet rates aside)."""
    return CheckRegistry(
        [
            StaleDataCheck(),
            ChainGapCheck(),
            TimeBaseCheck(),
            SensorQualityCheck(),
            ActuationLimitsCheck(),
            CommandConfirmationCheck(),
        ]
    )


def closed_loop_registry(controllers: ControllerLookup) -> CheckRegistry:
    """Return a new registry: the built-in checks plus controller re-computation (with the
    runners of ``controllers``) and the independent safety envelope."""
    registry = default_registry()
    registry.register(ControllerRecomputeCheck(controllers))
    registry.register(SafetyEnvelopeCheck())
    return registry
