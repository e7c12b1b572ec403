"""Evaluation of OSV ``affected[]`` entries against a package version.

Implements https://ossf.github.io/osv-schema/#evaluation:

* events are sorted by version (``introduced: "0"`` lowest) and walked in order:
  ``introduced`` turns *affected* on, ``fixed`` (``v >= fixed``) and ``last_affected``
  (``v > last_affected``) turn it off; the result is independent of document order;
* ``limit`` events cap a range: versions ``>=`` every limit are not affected
  (``limit: "*"`` means no limit);
* ``versions`` lists are exact matches (method ``purl-version-list``);
* ``SEMVER`` ranges compare as SemVer 2.0, ``ECOSYSTEM`` ranges with the ecosystem's
  own ordering (see :mod:`medwarden.matching.versions`);
* ``GIT`` ranges are ignored: their events are commit hashes, which cannot be
  compared with a release version.  OSV records that matter to packages also carry
  ``versions`` or ``ECOSYSTEM`` ranges.

Ties between events of equal version are broken as ``introduced`` < ``last_affected`` <
``fixed`` < ``limit``, so that the result does not depend on document order: a
degenerate ``introduced: X, fixed: X`` pair is an empty interval (breaking the tie the
other way would mark every version from X on as affected, forever), and
``introduced: X, last_affected: X`` affects exactly X.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cmp_to_key, lru_cache

from medwarden.core.ecosystems import PackageKey, split_ecosystem
from medwarden.intel.model import AffectedPackage, EventKind, RangeType, VersionRange
from medwarden.matching.model import MatchMethod
from medwarden.matching.versions import (
    SEMVER,
    OrderedVersion,
    UnparsableVersionError,
    ordering_for_ecosystem,
    parse_version,
)

__all__ = ["RangeVerdict", "ReleaseFit", "evaluate_affected", "is_affected", "release_fit"]

_TIE_RANK = {
    EventKind.INTRODUCED: 0,
    EventKind.LAST_AFFECTED: 1,
    EventKind.FIXED: 2,
    EventKind.LIMIT: 3,
}


class ReleaseFit(Enum):
    """Whether an advisory's distribution release applies to a component's."""

    APPLIES = "applies"
    OTHER_RELEASE = "other-release"
    UNKNOWN_RELEASE = "unknown-release"


@dataclass(frozen=True, slots=True)
class RangeVerdict:
    """A version is affected: by which method, in which range, fixed in which versions."""

    method: MatchMethod
    range_text: str
    fixed_versions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Event:
    kind: EventKind
    text: str
    version: OrderedVersion | None  # None for ``introduced: "0"``


def release_fit(affected_ecosystem: str, key: PackageKey) -> ReleaseFit:
    """Check the release of ``Debian:9``-style ecosystems against the component's release."""
    if ":" not in affected_ecosystem:
        return ReleaseFit.APPLIES
    _family, release = split_ecosystem(affected_ecosystem)
    if not release:
        return ReleaseFit.APPLIES
    if not key.release:
        return ReleaseFit.UNKNOWN_RELEASE
    wanted = key.release.lower()
    if release.lower() == wanted or wanted in release.lower().split(":"):
        return ReleaseFit.APPLIES
    return ReleaseFit.OTHER_RELEASE


def _ordering(affected: AffectedPackage, range_type: RangeType) -> str:
    if range_type is RangeType.SEMVER:
        return SEMVER
    return ordering_for_ecosystem(split_ecosystem(affected.ecosystem)[0])


def _compare(left: _Event, right: _Event) -> int:
    if left.version is None or right.version is None:
        order = (left.version is not None) - (right.version is not None)
    else:
        order = (right.version < left.version) - (left.version < right.version)
    return order or _TIE_RANK[left.kind] - _TIE_RANK[right.kind]


@lru_cache(maxsize=65536)
def _sorted_events(rng: VersionRange, ordering: str) -> tuple[_Event, ...]:
    """Parse and sort a range's events once per (range, ordering)."""
    events = []
    for event in rng.events:
        zero = event.kind is EventKind.INTRODUCED and event.version == "0"
        unlimited = event.kind is EventKind.LIMIT and event.version == "*"
        if unlimited:
            continue
        parsed = None if zero else parse_version(ordering, event.version)
        events.append(_Event(event.kind, event.version, parsed))
    return tuple(sorted(events, key=cmp_to_key(_compare)))


def is_affected(version: str, rng: VersionRange, ordering: str) -> bool:
    """Apply the OSV algorithm to one range under ``ordering`` (limits included)."""
    return _walk(parse_version(ordering, version), _sorted_events(rng, ordering)) is not None


def _walk(version: OrderedVersion, events: tuple[_Event, ...]) -> _Event | None:
    """Return the ``introduced`` event opening the interval holding ``version``, or None."""
    limits = [e.version for e in events if e.kind is EventKind.LIMIT and e.version is not None]
    if limits and not any(version < limit for limit in limits):
        return None
    opened: _Event | None = None
    for event in events:
        if event.kind is EventKind.INTRODUCED:
            if event.version is None or event.version <= version:
                opened = event
        elif _closes(event, version):
            opened = None
    return opened


def _closes(event: _Event, version: OrderedVersion) -> bool:
    """Whether a ``fixed``/``last_affected`` event ends an interval below ``version``."""
    if event.version is None:
        return False
    if event.kind is EventKind.FIXED:
        return event.version <= version
    return event.kind is EventKind.LAST_AFFECTED and event.version < version


def _range_text(version: OrderedVersion, opened: _Event, events: tuple[_Event, ...]) -> str:
    parts = [] if opened.version is None else [f">={opened.text}"]
    for event in events:
        bound = event.version
        if bound is None:
            continue
        if event.kind is EventKind.FIXED and version < bound:
            parts.append(f"<{event.text}")
            break
        if event.kind is EventKind.LAST_AFFECTED and version <= bound:
            parts.append(f"<={event.text}")
            break
    parts.extend(f"<{e.text}" for e in events if e.kind is EventKind.LIMIT)
    return ", ".join(parts) or "all versions"


def _fixed_above(version: OrderedVersion, events: tuple[_Event, ...]) -> list[str]:
    return [
        e.text
        for e in events
        if e.kind is EventKind.FIXED and e.version is not None and version < e.version
    ]


def evaluate_affected(affected: AffectedPackage, version: str) -> RangeVerdict | None:
    """Return how ``version`` is affected by an OSV ``affected[]`` entry, or None.

    Raises :class:`~medwarden.matching.versions.UnparsableVersionError` when the
    component's version (or a range event) cannot be read under the range's ordering
    and the version is not listed in ``versions`` either.
    """
    listed = version in affected.versions or (
        version[:1] == "v" and version[1:] in affected.versions
    )
    try:
        verdict = _evaluate_ranges(affected, version)
    except UnparsableVersionError:
        if not listed:
            raise
        verdict = None
    if verdict is None and listed:
        return RangeVerdict(MatchMethod.PURL_VERSION_LIST, f"={version}", ())
    return verdict


def _evaluate_ranges(affected: AffectedPackage, version: str) -> RangeVerdict | None:
    texts: list[str] = []
    fixed: list[str] = []
    for rng in affected.ranges:
        if rng.type is RangeType.GIT:
            continue
        ordering = _ordering(affected, rng.type)
        events = _sorted_events(rng, ordering)
        parsed = parse_version(ordering, version)
        opened = _walk(parsed, events)
        if opened is not None:
            texts.append(_range_text(parsed, opened, events))
            fixed.extend(_fixed_above(parsed, events))
    if not texts:
        return None
    return RangeVerdict(MatchMethod.PURL_RANGE, "; ".join(texts), _unique(fixed))


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
