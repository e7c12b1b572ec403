"""Folding matches into findings: one finding per vulnerability per component.

Matches of one component whose records are linked through aliases (CVE, GHSA, GO-,
distro ids; symmetric and transitive) become one :class:`Finding` with every id, every
piece of evidence, the union of fixed versions, KEV and EPSS data looked up by every
CVE id of the group, and the severity chosen over every record of the group, including
alias records that did not match themselves (an NVD record holds the CVSS of a GO- id).
The index is asked once per method for the whole SBOM.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from medwarden.intel.cvss import choose_severity
from medwarden.intel.model import Advisory, EpssScore, KevEntry, Source
from medwarden.matching.aliases import AliasGroups, preferred_id
from medwarden.matching.base import AdvisoryIndex
from medwarden.matching.model import Exploitation, Finding, Match

__all__ = ["RecordMatch", "fold_findings"]

_SUMMARY_ORDER = {Source.OSV: 0, Source.CVE5: 1, Source.NVD: 2}


@dataclass(frozen=True, slots=True)
class RecordMatch:
    """A match together with the record it came from."""

    match: Match
    record: Advisory


@dataclass(frozen=True, slots=True)
class _Context:
    """Everything looked up once for the whole SBOM."""

    aliases: AliasGroups
    kev: Mapping[str, KevEntry]
    epss: Mapping[str, EpssScore]
    extra: Mapping[str, Advisory]


def _is_cve(item: str) -> bool:
    return item.upper().startswith("CVE-")


def _lookup(matches: Mapping[str, list[RecordMatch]], index: AdvisoryIndex) -> _Context:
    records = [rm.record for found in matches.values() for rm in found]
    matched_ids = {r.id for r in records}
    aliases = AliasGroups.from_links(
        index.alias_groups(sorted(matched_ids)), ((r.id, r.aliases) for r in records)
    )
    all_ids = set().union(*(aliases.members(i) for i in matched_ids)) if matched_ids else set()
    cves = sorted(i for i in all_ids if _is_cve(i))
    return _Context(
        aliases,
        index.kev_entries(cves),
        index.epss_scores(cves),
        index.summaries(sorted(all_ids - matched_ids)),
    )


def _summary(records: Sequence[Advisory]) -> str | None:
    ordered = sorted(records, key=lambda r: _SUMMARY_ORDER.get(r.source, 9))
    text = next((r.summary for r in ordered if r.summary), None)
    return text or next((r.details for r in ordered if r.details), None)


def _match_order(rm: RecordMatch) -> tuple[str, ...]:
    ev = rm.match.evidence
    return (ev.record_id, ev.record_source.value, ev.method.value, ev.identifier, ev.criteria)


def _finding(ref: str, group: list[RecordMatch], ctx: _Context) -> Finding:
    ids = ctx.aliases.members(group[0].record.id)
    group.sort(key=_match_order)
    matched = [rm.record for rm in group]
    extra = [ctx.extra[i] for i in sorted(ids) if i in ctx.extra]
    rating, scores = choose_severity([*matched, *extra])
    cves = sorted(i for i in ids if _is_cve(i))
    epss = [ctx.epss[c] for c in cves if c in ctx.epss]
    fixed = (v for rm in group for v in rm.match.fixed_versions)
    kev = next((ctx.kev[c] for c in cves if c in ctx.kev), None)
    exploits = tuple(dict.fromkeys(u for r in (*matched, *extra) for u in r.exploit_references))
    return Finding(
        component_ref=ref,
        vulnerability_id=preferred_id(ids),
        ids=tuple(sorted(ids)),
        matches=tuple(rm.match for rm in group),
        summary=_summary([*matched, *extra]),
        severity=rating,
        scores=scores,
        kev=kev,
        epss=max(epss, key=lambda e: e.score) if epss else None,
        fixed_versions=tuple(dict.fromkeys(fixed)),
        exploitation=_exploitation(kev is not None, exploits),
        exploit_references=exploits,
    )


def _exploitation(in_kev: bool, exploits: tuple[str, ...]) -> Exploitation:
    """SSVC Exploitation: KEV means active; an exploit reference, a public PoC."""
    if in_kev:
        return Exploitation.ACTIVE
    return Exploitation.PUBLIC_POC if exploits else Exploitation.NONE


def _component_findings(ref: str, found: Iterable[RecordMatch], ctx: _Context) -> list[Finding]:
    groups: dict[str, list[RecordMatch]] = {}
    for rm in found:
        groups.setdefault(ctx.aliases.root(rm.record.id), []).append(rm)
    findings = [_finding(ref, group, ctx) for group in groups.values()]
    return sorted(findings, key=lambda f: f.vulnerability_id)


def fold_findings(
    order: Sequence[str], matches: Mapping[str, list[RecordMatch]], index: AdvisoryIndex
) -> tuple[Finding, ...]:
    """Fold every component's matches into findings, in component order then by id."""
    ctx = _lookup(matches, index)
    findings: list[Finding] = []
    for ref in dict.fromkeys(order):
        findings.extend(_component_findings(ref, matches.get(ref, ()), ctx))
    return tuple(findings)
