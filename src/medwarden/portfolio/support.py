"""Level of support and end of support per component (REQUIREMENTS 3 and 4).

FDA's premarket cybersecurity guidance (section V.A.4(b)) asks, per software
component, for its *level of support* ("actively maintained", "no longer
maintained", "abandoned") and its *end-of-support date*.  SBOM formats have no
standard field for either, so they are read from component properties under any of
the spellings in use (``levelOfSupport``, ``level_of_support``,
``medwarden:level-of-support``, ``fda:endOfSupport`` ...; only the last segment after
``:`` counts, compared without case and separators: see
:mod:`medwarden.sbom.support_properties`) and from SPDX 2.3 ``validUntilDate`` (which
the SPDX reader exposes as the ``spdx:validUntilDate`` property, as it does medwarden's
own support annotations).  A stated support record must carry an end-of-support date
or a justification for why none is known (:class:`~medwarden.errors.RuleViolationError`
otherwise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from medwarden.errors import RuleViolationError, UsageError
from medwarden.portfolio.model import RevisionInfo
from medwarden.sbom.model import Component
from medwarden.sbom.support_properties import SupportField, support_field

__all__ = [
    "ComponentSupport",
    "EndOfSupportFinding",
    "StoredSupport",
    "SupportLevel",
    "SupportedRevision",
    "end_of_support_findings",
    "normalise_level",
    "support_from_component",
]


class SupportLevel(StrEnum):
    """The controlled values; anything else is kept as free text."""

    ACTIVELY_MAINTAINED = "actively_maintained"
    NO_LONGER_MAINTAINED = "no_longer_maintained"
    ABANDONED = "abandoned"


_UNSUPPORTED = frozenset({SupportLevel.NO_LONGER_MAINTAINED, SupportLevel.ABANDONED})
_SQUASH = re.compile(r"[^a-z0-9]")


def _squash(text: str) -> str:
    return _SQUASH.sub("", text.lower())


def normalise_level(text: str | None) -> str | None:
    """Map the FDA phrases (any case, spaces or dashes) to :class:`SupportLevel` values."""
    if text is None or not text.strip():
        return None
    squashed = _squash(text)
    for level in SupportLevel:
        if squashed == _squash(level.value):
            return level.value
    return text.strip()


@dataclass(frozen=True, slots=True)
class ComponentSupport:
    """A component's support record: level, end-of-support date, or why no date is known."""

    level: str | None = None
    end_of_support: date | None = None
    justification: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", normalise_level(self.level))
        if self.justification is not None and not self.justification.strip():
            object.__setattr__(self, "justification", None)
        if self.end_of_support is None and self.justification is None:
            raise RuleViolationError(
                "a component's support record needs an end-of-support date "
                "or a justification for why it is unknown",
                hint="FDA premarket guidance V.A.4(b): state the date or why it cannot be given",
            )

    @property
    def unsupported(self) -> bool:
        """Whether the level says the component is no longer maintained or abandoned."""
        return self.level in _UNSUPPORTED


@dataclass(frozen=True, slots=True)
class StoredSupport:
    """The support record of one component of a release's current SBOM revision.

    ``support`` is None when the component states none; ``changed`` says whether the
    write that returned it changed anything (an unchanged record is not audited)."""

    product: str
    release: str
    revision: int
    ref: str
    support: ComponentSupport | None
    changed: bool = True


@dataclass(frozen=True, slots=True)
class SupportedRevision:
    """A release's current SBOM revision as imported, with the support record stored for
    each of its components (None where it states none), keyed by component ref."""

    info: RevisionInfo
    document: bytes
    records: dict[str, ComponentSupport | None]


def _date(text: str, ref: str) -> date:
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).date()
    except ValueError:
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            raise UsageError(
                f"component {ref}: end-of-support {text!r} is not an ISO 8601 date"
            ) from None


def support_from_component(component: Component) -> ComponentSupport | None:
    """Read the support record from ``component``'s properties; None when it states none.

    Raises :class:`UsageError` when the properties state a support record that is
    incomplete (a level without a date or justification) or has a malformed date."""
    level = when = reason = None
    for name, value in component.properties:
        field = support_field(name)
        if field is SupportField.LEVEL and level is None:
            level = value
        elif field is SupportField.END_OF_SUPPORT and when is None and value.strip():
            when = _date(value, component.ref)
        elif field is SupportField.JUSTIFICATION and reason is None:
            reason = value
    if level is None and when is None and reason is None:
        return None
    try:
        return ComponentSupport(level, when, reason)
    except UsageError as exc:
        raise UsageError(f"component {component.ref}: {exc.message}", hint=exc.hint) from None


@dataclass(frozen=True, slots=True)
class EndOfSupportFinding:
    """Why a component needs attention: past end of support, soon, or unmaintained."""

    component_ref: str
    reason: str
    end_of_support: date | None
    level: str | None


def end_of_support_findings(
    components: list[tuple[str, ComponentSupport]],
    *,
    today: date,
    horizon_days: int,
    device_support_end: date | None = None,
) -> list[EndOfSupportFinding]:
    """Which components need an end-of-support alert (REQUIREMENTS 4).

    A component is reported when its end of support has passed, falls within
    ``horizon_days`` of ``today``, or comes before the device's own planned support
    end (the device would outlive its component), and whenever its level is "no longer
    maintained" or "abandoned"."""
    horizon = today + timedelta(days=horizon_days)
    out: list[EndOfSupportFinding] = []
    for ref, support in components:
        eos = support.end_of_support
        reason = None
        if eos is not None and eos < today:
            reason = f"end of support passed on {eos.isoformat()}"
        elif eos is not None and eos <= horizon:
            reason = f"end of support on {eos.isoformat()}, within {horizon_days} days"
        elif eos is not None and device_support_end is not None and eos < device_support_end:
            reason = (
                f"end of support on {eos.isoformat()}, before the device's planned "
                f"support end {device_support_end.isoformat()}"
            )
        elif support.unsupported:
            reason = f"level of support: {support.level}"
        if reason is not None:
            out.append(EndOfSupportFinding(ref, reason, eos, support.level))
    return out
