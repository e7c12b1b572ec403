"""Version orderings: which ordering compares the versions of which ecosystem.

Three kinds of ordering are used:

* an ecosystem's own ordering, from :mod:`univers` (Maven qualifiers, Debian epochs
  and tildes, PEP 440, Go pseudo-versions...), picked through
  ``univers.version_range.RANGE_CLASS_BY_SCHEMES`` by the ecosystem's purl type;
* SemVer 2.0 (``univers`` ``SemverVersion``) for OSV ``SEMVER`` ranges, with Go's
  ``v`` prefix tolerated;
* a tolerant :class:`GenericVersion` for CPE versions of C and firmware components
  (``1.2.12``, ``1.1.1n``, ``1.0.2zh``, ``15.3.0``) and for ecosystems ``univers``
  does not know.

Parsed versions are cached (``functools.lru_cache``) and reduced to what compares
fastest: SemVer-family versions become plain tuples (SemVer 2.0 precedence), PyPI and
Maven versions the univers ``value`` alone, RubyGems versions their canonical segments
computed once.  Matching a 1,000-component SBOM compares some 20,000 pairs.
"""

from __future__ import annotations

import re
from functools import lru_cache, total_ordering
from typing import Any, Protocol, cast

from univers.version_range import RANGE_CLASS_BY_SCHEMES

from medwarden.core.ecosystems import purl_type_for_ecosystem
from medwarden.errors import MatchError

__all__ = [
    "GENERIC",
    "SEMVER",
    "GenericVersion",
    "OrderedVersion",
    "UnparsableVersionError",
    "ordering_for_ecosystem",
    "parse_version",
]

SEMVER = "semver"
"""Ordering name of SemVer 2.0 (OSV ``SEMVER`` ranges)."""

GENERIC = "generic"
"""Ordering name of the tolerant :class:`GenericVersion` (CPE versions)."""

# Orderings whose univers class validates by building the value and orders by it alone.
_VALUE_ONLY = frozenset({"pypi"})
_NUMERIC_DOTTED = re.compile(r"^\d+(?:\.\d+)*$")
# Orderings compared as SemVer 2.0 precedence, through a plain tuple key.
_SEMVER_FAMILY = frozenset({SEMVER, "npm", "golang", "cargo", "hex", "composer"})
_SEMVER = re.compile(
    r"^[vV]?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$"
)
_RELEASE = (1,)

# Words that mark a pre-release when they appear in a generic version.
_PRE_RELEASE = frozenset(
    {"alpha", "beta", "rc", "pre", "preview", "dev", "snapshot", "milestone", "cr", "ea"}
)
_TOKEN = re.compile(r"\d+|[a-z]+")
_GENERIC_ALLOWED = re.compile(r"^[0-9A-Za-z.\-_+~:]+$")

# Token classes, ordered: pre-release word < end of version < letter suffix < number.
_PRE, _END, _LETTER, _NUMBER = 0, 1, 2, 3


class UnparsableVersionError(MatchError):
    """A version string cannot be read under the ordering it must be compared with."""

    def __init__(self, version: str, ordering: str, reason: str = "") -> None:
        message = f"version {version!r} cannot be parsed as a {ordering} version"
        super().__init__(message + (f": {reason}" if reason else ""))
        self.version = version
        self.ordering = ordering


class OrderedVersion(Protocol):
    """What matching needs of a parsed version: a total order within its ordering."""

    def __lt__(self, other: Any, /) -> bool: ...

    def __le__(self, other: Any, /) -> bool: ...


@total_ordering
class GenericVersion:
    """A tolerant version for CPE data: numbers compare numerically, letters after.

    ``1.1.1`` < ``1.1.1n`` < ``1.1.1u`` (OpenSSL letter releases), ``1.0`` == ``1.0.0``,
    and a pre-release word sorts before the release (``2.0-rc1`` < ``2.0``).
    """

    __slots__ = ("key", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.key = _generic_key(text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GenericVersion) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __lt__(self, other: GenericVersion) -> bool:
        return self.key < other.key

    def __repr__(self) -> str:
        return f"GenericVersion({self.text!r})"


def _generic_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Turn a version string into a tuple that sorts like the version."""
    value = text.strip().lower()
    if value[:1] == "v" and value[1:2].isdigit():
        value = value[1:]
    if not value or not _GENERIC_ALLOWED.match(value) or not any(c.isdigit() for c in value):
        raise UnparsableVersionError(text, GENERIC, "no digits or unexpected characters")
    key: list[tuple[int, int, str]] = []
    for token in _TOKEN.findall(value):
        if token.isdigit():
            key.append((_NUMBER, int(token), ""))
        elif token in _PRE_RELEASE:
            _drop_trailing_zeros(key)
            key.append((_PRE, 0, token))
        else:
            key.append((_LETTER, 0, token))
    _drop_trailing_zeros(key)
    key.append((_END, 0, ""))
    return tuple(key)


def _drop_trailing_zeros(key: list[tuple[int, int, str]]) -> None:
    """``1.0.0`` is ``1``: drop zero numbers ending a release part (keep the first)."""
    while len(key) > 1 and key[-1] == (_NUMBER, 0, "") and key[-2][0] == _NUMBER:
        key.pop()


def ordering_for_ecosystem(family: str) -> str:
    """Return the ordering name (a purl type, or ``generic``) of an OSV ecosystem family."""
    ptype = purl_type_for_ecosystem(family)
    if ptype is not None and ptype in RANGE_CLASS_BY_SCHEMES:
        return ptype
    return GENERIC


@lru_cache(maxsize=131072)
def parse_version(ordering: str, text: str) -> OrderedVersion:
    """Parse ``text`` under ``ordering``; raise :class:`UnparsableVersionError`.

    ``ordering`` is a purl type known to univers, :data:`SEMVER` or :data:`GENERIC`.
    """
    if not text or not text.strip():
        raise UnparsableVersionError(text, ordering, "empty version")
    if ordering == GENERIC:
        return GenericVersion(text)
    cls: Any
    if ordering == SEMVER:
        cls = RANGE_CLASS_BY_SCHEMES["npm"].version_class
        text = text[1:] if text[:1] == "v" else text
    elif ordering in RANGE_CLASS_BY_SCHEMES:
        cls = RANGE_CLASS_BY_SCHEMES[ordering].version_class
    else:
        raise UnparsableVersionError(text, ordering, "no such version ordering")
    if ordering in _SEMVER_FAMILY:
        return _semver_key(text.strip(), cls, ordering)
    if ordering in _VALUE_ONLY:
        return _parse_value(cls, text.strip(), ordering)
    if ordering == "gem":
        return _GemKey(_parse_value(cls, text.strip(), ordering))
    if ordering == "maven":
        return _MavenKey(text.strip(), cls)
    try:
        return cast(OrderedVersion, cls(text.strip()))
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise UnparsableVersionError(text, ordering, str(exc)) from exc


SemverKey = tuple[int, int, int, tuple[object, ...]]


def _semver_key(text: str, cls: Any, ordering: str) -> OrderedVersion:
    """SemVer 2.0 precedence as a tuple (compared in C, built without univers if possible).

    Release sorts after any pre-release; pre-release identifiers compare numerically
    when numeric, lexically otherwise, numeric before alphanumeric, and a longer set
    after its prefix.  Strings that are not strict SemVer (``1.0``) go through univers'
    coercion and end up as the same kind of key.
    """
    found = _SEMVER.match(text)
    if found:
        major, minor, patch, pre = found.groups()
        return cast(OrderedVersion, (int(major), int(minor), int(patch), _pre_key(pre)))
    value = _parse_value(cls, text, ordering)
    parts = cast(Any, value)
    pre = ".".join(parts.prerelease) if parts.prerelease else None
    return cast(OrderedVersion, (parts.major, parts.minor, parts.patch, _pre_key(pre)))


def _pre_key(pre: str | None) -> tuple[object, ...]:
    if not pre:
        return _RELEASE
    ids = tuple((0, int(i), "") if i.isdigit() else (1, 0, i) for i in pre.split("."))
    return (0, *ids)


@total_ordering
class _GemKey:
    """RubyGems ordering on canonical segments computed once (univers recomputes them)."""

    __slots__ = ("segments",)

    def __init__(self, value: Any) -> None:
        self.segments: tuple[int | str, ...] = tuple(value.canonical_segments)

    def _cmp(self, other: _GemKey) -> int:
        left, right = self.segments, other.segments
        for i in range(max(len(left), len(right))):
            a = left[i] if i < len(left) else 0
            b = right[i] if i < len(right) else 0
            if a == b:
                continue
            if isinstance(a, str) != isinstance(b, str):
                return -1 if isinstance(a, str) else 1
            return -1 if a < b else 1  # type: ignore[operator]
        return 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _GemKey) and self._cmp(other) == 0

    def __hash__(self) -> int:
        segments = list(self.segments)
        while segments and segments[-1] == 0:
            segments.pop()
        return hash(tuple(segments))

    def __lt__(self, other: _GemKey) -> bool:
        return self._cmp(other) < 0


@total_ordering
class _MavenKey:
    """Maven ``ComparableVersion`` order, fast for purely numeric versions.

    Maven compares numeric items as integers and ignores trailing zero items
    (``1`` == ``1.0`` == ``1.0.0``, ``1.9`` < ``1.10``), so two purely numeric versions
    compare exactly as integer tuples without their trailing zeros.  Anything else
    (qualifiers: ``4.1.82.Final``, ``31.1-jre``, ``1.0-rc1``) and every mixed pair goes
    through univers' Maven value, built once, on first need (univers' list comparison
    costs about 18 microseconds a pair)."""

    __slots__ = ("_cls", "_value", "numeric", "text")

    def __init__(self, text: str, cls: Any) -> None:
        self.text = text
        self._cls = cls
        self._value: Any = None
        self.numeric: tuple[int, ...] | None = None
        if _NUMERIC_DOTTED.match(text):
            items = [int(part) for part in text.split(".")]
            while len(items) > 1 and items[-1] == 0:
                items.pop()
            self.numeric = tuple(items)
        else:
            self._value = _parse_value(cls, text, "maven")

    def value(self) -> Any:
        """univers' comparable Maven value (built on first use)."""
        if self._value is None:
            self._value = _parse_value(self._cls, self.text, "maven")
        return self._value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _MavenKey):
            return NotImplemented
        if self.numeric is not None and other.numeric is not None:
            return self.numeric == other.numeric
        return bool(self.value() == other.value())

    def __hash__(self) -> int:
        return hash(self.value())

    def __lt__(self, other: _MavenKey) -> bool:
        if self.numeric is not None and other.numeric is not None:
            return self.numeric < other.numeric
        return bool(self.value() < other.value())

    def __repr__(self) -> str:
        return f"MavenVersion({self.text!r})"


def _parse_value(cls: Any, text: str, ordering: str) -> OrderedVersion:
    """Build only the ``value`` univers compares, skipping its wrapper.

    For these orderings univers' ``Version`` validates by building the value, then
    builds it again, and orders by ``value`` alone (attrs ``order=True`` on that field
    only): building it once and comparing it directly is several times faster, and
    matching compares each component version with every range event.
    """
    normalized = cls.normalize(text)
    if not normalized:
        raise UnparsableVersionError(text, ordering, "empty version")
    try:
        return cast(OrderedVersion, cls.build_value(normalized))
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise UnparsableVersionError(text, ordering, str(exc)) from exc
