"""The matching engine: an SBOM and an :class:`AdvisoryIndex` in, findings out.

Every index method is called once per scan with all keys at once, so the number of
queries does not grow with the number of components.  Each component is matched by
purl against OSV-style ``affected[]`` entries and/or by CPE against NVD configurations
(see :mod:`medwarden.matching.targets` for which), matches are folded by alias group
into findings (:mod:`medwarden.matching.folding`), and every component that could not
be (fully) analysed is reported as a :class:`SkippedComponent`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from medwarden.core.cpe import ANY, CpeError, parse_cpe
from medwarden.core.ecosystems import PackageKey, normalize_name, split_ecosystem
from medwarden.intel.model import Advisory
from medwarden.matching.base import AdvisoryIndex
from medwarden.matching.cpe_configurations import (
    CpeTarget,
    PlatformIndex,
    evaluate_configurations,
)
from medwarden.matching.folding import RecordMatch, fold_findings
from medwarden.matching.model import (
    Evidence,
    Finding,
    Match,
    MatchMethod,
    SkippedComponent,
    SkipReason,
)
from medwarden.matching.osv_ranges import ReleaseFit, evaluate_affected, release_fit
from medwarden.matching.targets import ComponentTargets, plan_component
from medwarden.matching.versions import UnparsableVersionError
from medwarden.sbom.model import Sbom

__all__ = ["MatchOutcome", "match_sbom"]

_Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """Findings in component order, and every component not (fully) analysed."""

    findings: tuple[Finding, ...]
    skipped: tuple[SkippedComponent, ...]


@dataclass(slots=True)
class _Problems:
    """What went wrong while matching one component, reported once per reason."""

    unparsable: dict[str, list[str]] = field(default_factory=dict)
    release_unknown: list[str] = field(default_factory=list)

    def version_error(self, error: UnparsableVersionError, record_id: str) -> None:
        self.unparsable.setdefault(error.message, []).append(record_id)

    def skipped(self, ref: str) -> list[SkippedComponent]:
        out = [
            SkippedComponent(ref, SkipReason.UNPARSABLE_VERSION, f"{msg} (records: {_ids(ids)})")
            for msg, ids in self.unparsable.items()
        ]
        if self.release_unknown:
            detail = (
                "the SBOM gives no distribution release (purl qualifier 'distro'); "
                f"release-specific records not applied: {_ids(self.release_unknown)}"
            )
            out.append(SkippedComponent(ref, SkipReason.DISTRO_RELEASE_UNKNOWN, detail))
        return out


def _ids(ids: Iterable[str]) -> str:
    return ", ".join(sorted(set(ids)))


def _same_package(ecosystem: str, name: str, key: PackageKey) -> bool:
    """Whether an ``affected[]`` entry names the component's package (any release)."""
    family = ecosystem if ":" not in ecosystem else split_ecosystem(ecosystem)[0]
    if family != key.ecosystem:
        return False
    return name == key.name or normalize_name(family, name) == key.name


def _purl_match(
    plan: ComponentTargets, advisory: Advisory, problems: _Problems
) -> RecordMatch | None:
    key, version = plan.package_key, plan.package_version
    if key is None or version is None:
        return None
    texts: list[str] = []
    fixed: list[str] = []
    criteria: list[str] = []
    method = MatchMethod.PURL_RANGE
    for affected in advisory.affected:
        if not _same_package(affected.ecosystem, affected.name, key):
            continue
        fit = release_fit(affected.ecosystem, key)
        if fit is not ReleaseFit.APPLIES:
            if fit is ReleaseFit.UNKNOWN_RELEASE:
                problems.release_unknown.append(advisory.id)
            continue
        try:
            verdict = evaluate_affected(affected, version)
        except UnparsableVersionError as exc:
            problems.version_error(exc, advisory.id)
            continue
        if verdict is not None:
            texts.append(verdict.range_text)
            fixed.extend(verdict.fixed_versions)
            criteria.append(f"{affected.ecosystem}/{affected.name}")
            method = verdict.method if len(texts) == 1 else method
    if not texts:
        return None
    evidence = Evidence(
        method,
        advisory.id,
        advisory.source,
        plan.component.purl or "",
        ", ".join(dict.fromkeys(criteria)),
        "; ".join(dict.fromkeys(texts)),
        1.0,
    )
    match = Match(plan.component.ref, advisory.id, evidence, tuple(dict.fromkeys(fixed)))
    return RecordMatch(match, advisory)


def _cpe_match(
    plan: ComponentTargets, advisory: Advisory, platforms: PlatformIndex, problems: _Problems
) -> RecordMatch | None:
    ref = plan.component.ref
    try:
        verdict = evaluate_configurations(advisory.configurations, plan.cpe_targets, platforms, ref)
    except UnparsableVersionError as exc:
        problems.version_error(exc, advisory.id)
        return None
    if verdict is None:
        return None
    evidence = Evidence(
        MatchMethod.CPE_CONFIGURATION,
        advisory.id,
        advisory.source,
        verdict.identifier,
        verdict.criteria,
        verdict.range_text,
        verdict.confidence,
    )
    fixed = (verdict.fixed_version,) if verdict.fixed_version else ()
    return RecordMatch(Match(ref, advisory.id, evidence, fixed), advisory)


def _unique(advisories: Iterable[Advisory]) -> list[Advisory]:
    seen: dict[tuple[str, str], Advisory] = {}
    for advisory in advisories:
        if not advisory.is_withdrawn:
            seen.setdefault((advisory.id, advisory.source.value), advisory)
    return list(seen.values())


def _match_component(
    plan: ComponentTargets,
    by_package: Mapping[_Key, list[Advisory]],
    by_cpe: Mapping[_Key, list[Advisory]],
    platforms: PlatformIndex,
) -> tuple[list[RecordMatch], list[SkippedComponent]]:
    problems = _Problems()
    found: list[RecordMatch | None] = []
    if plan.package_key is not None:
        key = (plan.package_key.ecosystem, plan.package_key.name)
        found.extend(_purl_match(plan, a, problems) for a in _unique(by_package.get(key, ())))
    cpe_records = _unique(a for t in plan.cpe_targets for a in by_cpe.get(t.cpe.key, ()))
    found.extend(_cpe_match(plan, a, platforms, problems) for a in cpe_records)
    matches = [m for m in found if m is not None]
    return matches, problems.skipped(plan.component.ref)


def _plan(sbom: Sbom) -> tuple[list[ComponentTargets], list[SkippedComponent]]:
    plans, skipped = [], []
    for component in sbom.components:
        plan, skips = plan_component(component)
        plans.append(plan)
        skipped.extend(skips)
    return plans, skipped


def _platforms(sbom: Sbom) -> PlatformIndex:
    """Every parseable CPE of every component, as evidence of ``runningOn`` platforms."""
    entries = []
    for component in sbom.components:
        for text in component.cpes:
            try:
                cpe = parse_cpe(text)
            except CpeError:
                continue
            version = component.version if cpe.version == ANY else cpe.version
            entries.append((component.ref, CpeTarget(text, cpe, version)))
    return PlatformIndex(entries)


def _uncovered(plans: list[ComponentTargets], index: AdvisoryIndex) -> list[SkippedComponent]:
    """Components matched by purl only whose ecosystem the mirror holds nothing for.

    Without this, a Debian package scanned against a mirror with no Debian advisories
    would read as "no known vulnerabilities" when in truth it was never checked."""
    families = {p.package_key.ecosystem for p in plans if p.package_key is not None}
    covered = index.covered_ecosystems(sorted(families)) if families else frozenset()
    out = []
    for plan in plans:
        key = plan.package_key
        if key is None or key.ecosystem in covered or plan.cpe_targets:
            continue
        detail = (
            f"the mirror holds no {key.ecosystem} advisories, so {key.name} was not checked; "
            f"load them (e.g. medwarden intel sync --source osv --osv-ecosystem {key.ecosystem})"
        )
        out.append(SkippedComponent(plan.component.ref, SkipReason.NO_INTELLIGENCE, detail))
    return out


def match_sbom(sbom: Sbom, index: AdvisoryIndex) -> MatchOutcome:
    """Match every component of ``sbom`` against ``index``; one index call per method."""
    plans, skipped = _plan(sbom)
    skipped.extend(_uncovered(plans, index))
    package_keys = {
        (p.package_key.ecosystem, p.package_key.name) for p in plans if p.package_key is not None
    }
    cpe_keys = {t.cpe.key for p in plans for t in p.cpe_targets}
    by_package = index.advisories_by_package(sorted(package_keys))
    by_cpe = index.advisories_by_cpe(sorted(cpe_keys))
    platforms = _platforms(sbom)
    matches: dict[str, list[RecordMatch]] = {}
    for plan in plans:
        found, problems = _match_component(plan, by_package, by_cpe, platforms)
        matches.setdefault(plan.component.ref, []).extend(found)
        skipped.extend(problems)
    order = [c.ref for c in sbom.components]
    findings = fold_findings(order, matches, index)
    rank = {ref: i for i, ref in reversed(list(enumerate(order)))}
    skipped.sort(key=lambda s: rank.get(s.component_ref, len(rank)))
    return MatchOutcome(findings, tuple(skipped))
