"""Evaluation of NVD configurations against a component's CPE names.

A configuration is a tree: ``OR``/``AND`` over nodes, each node ``OR``/``AND`` over
``cpeMatch`` entries, nodes maybe negated.  Only ``vulnerable`` entries produce
findings; non-vulnerable entries are conditions (``runningOn`` platforms).

Rules, chosen for patient safety (never miss) without wildcard confusion:

* a criteria or a component CPE whose vendor or product is ANY (``*``) or NA (``-``)
  never matches: ``*`` against ``*`` says nothing about identity;
* the part may be ``*`` on either side (bitnami SBOMs write ``cpe:2.3:*:...``); all
  other attributes are compared with :func:`medwarden.core.cpe.compare_attribute`
  and any DISJOINT attribute rejects the match;
* the component's version is its CPE's version, or ``Component.version`` when the
  CPE version is ANY; it is compared with the tolerant generic ordering;
* criteria version ANY with bounds (``versionStart/End...``) matches versions inside
  the bounds (confidence 0.9); ANY without bounds matches any version (0.7); a
  concrete criteria version matches the equal version (0.95); NA matches only an NA
  component version (0.8);
* ``AND`` configurations (an application on a platform): the other nodes must be
  satisfied by *another* component of the same SBOM.  When no component evidences the
  platform the match is **still reported**, at confidence 0.4 and with
  ``platform not evidenced: <cpe>`` in its range text: an SBOM rarely lists the
  operating system or hardware a device runs, and a missed vulnerability costs more
  than a triaged false positive.  Platform criteria with version NA
  (``cpe:2.3:o:linux:linux_kernel:-``) are read as "any version of that platform";
* configuration-level ``negate`` is not used by NVD and is ignored; negated nodes are
  conditions only (satisfied when no SBOM component matches them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from medwarden.core.cpe import ANY, NA, Cpe, CpeError, Relation, compare_attribute, parse_cpe
from medwarden.intel.model import CpeConfiguration, CpeMatch, CpeNode
from medwarden.matching.versions import GENERIC, UnparsableVersionError, parse_version

__all__ = [
    "CONFIDENCE_ANY_VERSION",
    "CONFIDENCE_EXACT",
    "CONFIDENCE_IN_BOUNDS",
    "CONFIDENCE_NA_VERSION",
    "CONFIDENCE_UNEVIDENCED_PLATFORM",
    "CpeTarget",
    "CpeVerdict",
    "PlatformIndex",
    "evaluate_configurations",
    "match_criteria",
]

CONFIDENCE_EXACT = 0.95
CONFIDENCE_IN_BOUNDS = 0.9
CONFIDENCE_NA_VERSION = 0.8
CONFIDENCE_WILDCARD_VERSION = 0.8
CONFIDENCE_ANY_VERSION = 0.7
CONFIDENCE_UNEVIDENCED_PLATFORM = 0.4

_OTHER_FIELDS = ("update", "edition", "language", "sw_edition", "target_sw", "target_hw", "other")


@dataclass(frozen=True, slots=True)
class CpeTarget:
    """One CPE of a component: as written, parsed, and the version it stands for."""

    text: str
    cpe: Cpe
    version: str | None


@dataclass(frozen=True, slots=True)
class CpeVerdict:
    """A configuration matched a component CPE: which criteria, in words, how surely."""

    criteria: str
    identifier: str
    range_text: str
    confidence: float
    fixed_version: str | None = None


@lru_cache(maxsize=65536)
def _criteria(text: str) -> Cpe | None:
    """Parse a criteria CPE once; a malformed criteria matches nothing."""
    try:
        return parse_cpe(text)
    except CpeError:
        return None


@lru_cache(maxsize=65536)
def _identity_ok(crit: Cpe, target: Cpe) -> bool:
    """Vendor and product must be concrete on both sides and the rest not DISJOINT."""
    for value in (crit.vendor, crit.product, target.vendor, target.product):
        if value in (ANY, NA):
            return False
    if compare_attribute(crit.vendor, target.vendor) is Relation.DISJOINT:
        return False
    if compare_attribute(crit.product, target.product) is Relation.DISJOINT:
        return False
    if ANY not in (crit.part, target.part) and crit.part != target.part:
        return False
    return all(
        compare_attribute(getattr(crit, f), getattr(target, f)) is not Relation.DISJOINT
        for f in _OTHER_FIELDS
    )


def _has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def _bounds_text(m: CpeMatch) -> str:
    parts = []
    if m.version_start_including:
        parts.append(f">={m.version_start_including}")
    if m.version_start_excluding:
        parts.append(f">{m.version_start_excluding}")
    if m.version_end_including:
        parts.append(f"<={m.version_end_including}")
    if m.version_end_excluding:
        parts.append(f"<{m.version_end_excluding}")
    return ", ".join(parts)


def _within_bounds(m: CpeMatch, version: str) -> bool:
    v = parse_version(GENERIC, version)
    if m.version_start_including and v < parse_version(GENERIC, m.version_start_including):
        return False
    if m.version_start_excluding and v <= parse_version(GENERIC, m.version_start_excluding):
        return False
    if m.version_end_including and parse_version(GENERIC, m.version_end_including) < v:
        return False
    return not (m.version_end_excluding and parse_version(GENERIC, m.version_end_excluding) <= v)


def _version_verdict(m: CpeMatch, crit: Cpe, version: str) -> tuple[float, str] | None:
    """Compare the criteria's version (and bounds) with the component version."""
    if crit.version == NA:
        return (CONFIDENCE_NA_VERSION, "version not applicable") if version == NA else None
    if crit.version == ANY:
        if not m.has_range:
            return CONFIDENCE_ANY_VERSION, "any version"
        if version in (NA, ANY) or not _within_bounds(m, version):
            return None
        return CONFIDENCE_IN_BOUNDS, _bounds_text(m)
    if version in (NA, ANY):
        return None
    if "*" in crit.version or "?" in crit.version:
        if compare_attribute(crit.version, version) is Relation.DISJOINT:
            return None
        return CONFIDENCE_WILDCARD_VERSION, f"={crit.version}"
    same = crit.version == version or parse_version(GENERIC, crit.version) == parse_version(
        GENERIC, version
    )
    return (CONFIDENCE_EXACT, f"={crit.version}") if same else None


def match_criteria(m: CpeMatch, target: CpeTarget) -> CpeVerdict | None:
    """Match one ``cpeMatch`` entry against one component CPE (vulnerable flag ignored).

    Raises :class:`UnparsableVersionError` when a version must be compared and cannot
    be read.
    """
    crit = _criteria(m.criteria)
    if crit is None or target.version is None:
        return None
    if crit.key != target.cpe.key and not _has_wildcard(crit.vendor + crit.product):
        return None  # the common case: another product of the same record
    if not _identity_ok(crit, target.cpe):
        return None
    verdict = _version_verdict(m, crit, target.version)
    if verdict is None:
        return None
    return CpeVerdict(m.criteria, target.text, verdict[1], verdict[0], m.version_end_excluding)


class PlatformIndex:
    """Every CPE of an SBOM, by (vendor, product), to evidence ``runningOn`` platforms."""

    def __init__(self, entries: Iterable[tuple[str, CpeTarget]] = ()) -> None:
        self._by_key: dict[tuple[str, str], list[tuple[str, CpeTarget]]] = defaultdict(list)
        for ref, target in entries:
            self._by_key[target.cpe.key].append((ref, target))

    def satisfies(self, m: CpeMatch, exclude_ref: str | None) -> bool:
        """Whether a component other than ``exclude_ref`` matches the condition ``m``."""
        crit = _criteria(m.criteria)
        if crit is None:
            return False
        for ref, target in self._by_key.get(crit.key, ()):
            if ref != exclude_ref and _platform_hit(m, crit, target):
                return True
        return False


def _platform_hit(m: CpeMatch, crit: Cpe, target: CpeTarget) -> bool:
    """Match a platform condition; criteria version NA reads as any version."""
    if crit.version == NA:
        return _identity_ok(crit, target.cpe)
    try:
        return match_criteria(m, target) is not None
    except UnparsableVersionError:
        return False


def _node_holds(node: CpeNode, platforms: PlatformIndex, ref: str | None) -> bool:
    results = (platforms.satisfies(m, ref) for m in node.matches)
    held = all(results) if node.operator.upper() == "AND" else any(results)
    return held != node.negate


def _best_hit(node: CpeNode, targets: Sequence[CpeTarget]) -> tuple[CpeMatch, CpeVerdict] | None:
    """The most confident vulnerable entry of ``node`` on any of the component's CPEs.

    A version that cannot be compared is raised only when nothing else matched.
    """
    best: tuple[CpeMatch, CpeVerdict] | None = None
    error: UnparsableVersionError | None = None
    for m in node.matches:
        if not m.vulnerable:
            continue
        for target in targets:
            try:
                verdict = match_criteria(m, target)
            except UnparsableVersionError as exc:
                error = error or exc
                continue
            if verdict is not None and (best is None or verdict.confidence > best[1].confidence):
                best = (m, verdict)
    if best is None and error is not None:
        raise error
    return best


def _unmet_conditions(
    config: CpeConfiguration,
    node: CpeNode,
    hit: CpeMatch,
    platforms: PlatformIndex,
    ref: str,
) -> list[str]:
    """Criteria of the conditions (other nodes, other AND members) no component evidences."""
    unmet: list[str] = []
    if config.operator.upper() == "AND":
        for other in config.nodes:
            if other is not node and not _node_holds(other, platforms, ref):
                prefix = "NOT " if other.negate else ""
                unmet.append(prefix + (other.matches[0].criteria if other.matches else "?"))
    if node.operator.upper() == "AND":
        unmet.extend(
            m.criteria for m in node.matches if m is not hit and not platforms.satisfies(m, None)
        )
    return unmet


def _evaluate(
    config: CpeConfiguration, targets: Sequence[CpeTarget], platforms: PlatformIndex, ref: str
) -> CpeVerdict | None:
    best: CpeVerdict | None = None
    error: UnparsableVersionError | None = None
    for node in config.nodes:
        if node.negate:
            continue
        try:
            found = _best_hit(node, targets)
        except UnparsableVersionError as exc:
            error = error or exc
            continue
        if found is None:
            continue
        hit, verdict = found
        unmet = _unmet_conditions(config, node, hit, platforms, ref)
        if unmet:
            verdict = replace(
                verdict,
                confidence=min(verdict.confidence, CONFIDENCE_UNEVIDENCED_PLATFORM),
                range_text=f"{verdict.range_text}; platform not evidenced: {', '.join(unmet)}",
            )
        if best is None or verdict.confidence > best.confidence:
            best = verdict
    if best is None and error is not None:
        raise error
    return best


def evaluate_configurations(
    configurations: Iterable[CpeConfiguration],
    targets: Sequence[CpeTarget],
    platforms: PlatformIndex,
    component_ref: str,
) -> CpeVerdict | None:
    """Return the most confident match of any configuration on the component's CPEs.

    Raises :class:`UnparsableVersionError` when a version must be compared and cannot
    be read.
    """
    best: CpeVerdict | None = None
    error: UnparsableVersionError | None = None
    for config in configurations:
        try:
            verdict = _evaluate(config, targets, platforms, component_ref)
        except UnparsableVersionError as exc:
            error = error or exc
            continue
        if verdict is not None and (best is None or verdict.confidence > best.confidence):
            best = verdict
    if best is None and error is not None:
        raise error
    return best
