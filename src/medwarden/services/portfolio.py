"""Portfolio use cases: import an SBOM revision, re-evaluate after new intelligence.

Both match component *identities*, not SBOM rows: an import matches only identities
the portfolio has never evaluated (a new release that shares 290 of its 300
components with the previous one matches 10), and a re-evaluation matches only the
identities holding a key of a changed record.  Matching runs before the write
transaction (reads only); the store then writes matches, findings, policy decisions,
notifications and the audit event in one transaction.

Identities are matched without the rest of their SBOM, so NVD ``AND``
configurations (software running on a platform) cannot see the platform and match
at reduced confidence (``docs/adr/0011-portfolio-reevaluation.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from medwarden.core.clock import Clock
from medwarden.core.digests import canonical_json, sha256_hex
from medwarden.errors import InputTooLargeError, UsageError
from medwarden.matching.base import AdvisoryIndex
from medwarden.matching.engine import match_sbom
from medwarden.matching.model import Finding, SkippedComponent
from medwarden.portfolio.findings import Delta, ImportResult
from medwarden.portfolio.identity import ComponentIdentity, identify
from medwarden.portfolio.support import support_from_component
from medwarden.reports.scan_json import finding_evidence
from medwarden.sbom.model import Component, Sbom, SbomFormat, ValidationIssue
from medwarden.sbom.reading import read_sbom
from medwarden.services.ports import (
    Evaluation,
    MatchRecord,
    PendingChanges,
    RevisionDraft,
    RevisionEntry,
)

__all__ = [
    "DEFAULT_MAX_UPLOAD_BYTES",
    "ImportOutcome",
    "PortfolioStore",
    "evaluate_identities",
    "import_sbom",
    "match_record",
    "reevaluate",
]

DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024
"""The largest SBOM accepted for import (50 MiB; the largest corpus SBOM is 4 MiB)."""

K = TypeVar("K")

_MEDIA_TYPES = {
    SbomFormat.CYCLONEDX_JSON: "application/vnd.cyclonedx+json",
    SbomFormat.CYCLONEDX_XML: "application/vnd.cyclonedx+xml",
    SbomFormat.SPDX_JSON: "application/spdx+json",
    SbomFormat.SPDX_TAG_VALUE: "text/spdx",
}


class PortfolioStore(Protocol):
    """What the portfolio use cases need from storage."""

    def unevaluated(self, digests: Iterable[str]) -> set[str]:
        """Identity digests not stored yet or never matched."""
        ...

    def import_revision(
        self,
        slug: str,
        version: str,
        draft: RevisionDraft,
        evaluations: Mapping[str, Evaluation],
        *,
        actor: str,
        at: datetime,
    ) -> ImportResult:
        """Store a revision, its new identities' matches, and sync the release's findings."""
        ...

    def pending_changes(self) -> PendingChanges:
        """Changed intelligence since the last re-evaluation and the identities it affects."""
        ...

    def apply_reevaluation(
        self,
        pending: PendingChanges,
        evaluations: Mapping[int, Evaluation],
        *,
        actor: str,
        at: datetime,
    ) -> Delta:
        """Store re-evaluated matches and sync every affected finding."""
        ...


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """An import's result plus the reader's issues and the components it could not analyse."""

    result: ImportResult
    issues: tuple[ValidationIssue, ...]
    skipped: tuple[SkippedComponent, ...]


def match_record(found: Finding) -> MatchRecord:
    """Encode one finding of an identity for the match cache."""
    evidence = finding_evidence(found)
    payload = canonical_json(evidence)
    cve = next((i for i in found.ids if i.upper().startswith("CVE-")), None)
    first = found.matches[0].evidence if found.matches else None
    source = f"{first.record_source.value}:{first.method.value}" if first else "feed"
    return MatchRecord(
        vulnerability_id=found.vulnerability_id,
        cve_id=cve,
        severity=found.severity,
        discovery_source=source,
        digest=sha256_hex(payload),
        payload=payload,
        ids=tuple(sorted({*found.ids, *(m.record_id for m in found.matches)})),
    )


def evaluate_identities(
    identities: Sequence[tuple[K, ComponentIdentity]], index: AdvisoryIndex
) -> dict[K, Evaluation]:
    """Match each identity alone (no SBOM context) against ``index``; one pass for all."""
    if not identities:
        return {}
    refs = {f"c{i}": key for i, (key, _ident) in enumerate(identities)}
    components = tuple(ident.as_component(f"c{i}") for i, (_k, ident) in enumerate(identities))
    sbom = Sbom(format=SbomFormat.CYCLONEDX_JSON, spec_version="1.6", components=components)
    outcome = match_sbom(sbom, index)
    matches: dict[str, list[MatchRecord]] = {}
    skipped: dict[str, list[dict[str, str]]] = {}
    for found in outcome.findings:
        matches.setdefault(found.component_ref, []).append(match_record(found))
    for skip in outcome.skipped:
        skipped.setdefault(skip.component_ref, []).append(
            {"reason": skip.reason.value, "detail": skip.detail}
        )
    return {
        key: Evaluation(tuple(matches.get(ref, ())), tuple(skipped.get(ref, ())))
        for ref, key in refs.items()
    }


def _entries(sbom: Sbom) -> tuple[RevisionEntry, ...]:
    problems: list[str] = []
    entries = []
    for comp in sbom.components:
        try:
            support = support_from_component(comp)
        except UsageError as exc:
            problems.append(exc.message)
            support = None
        entries.append(RevisionEntry(comp.ref, identify(comp), comp.supplier, support))
    if problems:
        raise UsageError(
            "the SBOM states incomplete or malformed support data; nothing was stored",
            details=tuple(problems[:20]),
            hint="give each supported component an end-of-support date or a justification",
        )
    return tuple(entries)


def _skipped(entries: Sequence[RevisionEntry]) -> list[SkippedComponent]:
    return [s for e in entries for s in e.identity.skipped if s.component_ref == e.ref]


def import_sbom(
    store: PortfolioStore,
    index: AdvisoryIndex,
    slug: str,
    version: str,
    data: bytes,
    *,
    actor: str,
    clock: Clock,
    source: str | None = None,
    max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> ImportOutcome:
    """Read ``data`` as an SBOM and store it as the next revision of ``slug``/``version``.

    Nothing is stored when the document cannot be read; the release's previous
    revisions are never touched."""
    if len(data) > max_bytes:
        raise InputTooLargeError(
            f"the SBOM is {len(data):,} bytes, over the limit of {max_bytes:,}",
            hint="raise the upload limit in the settings if this SBOM is genuine",
        )
    read = read_sbom(data, source=source)
    entries = _entries(read.sbom)
    identities = {e.identity.digest: e.identity for e in entries}
    todo = store.unevaluated(identities)
    evaluations = evaluate_identities([(d, identities[d]) for d in sorted(todo)], index)
    sbom = read.sbom
    draft = RevisionDraft(
        document=data,
        media_type=_MEDIA_TYPES.get(sbom.format, "application/octet-stream"),
        format=sbom.format.value,
        spec_version=sbom.spec_version,
        digest=sha256_hex(data),
        entries=entries,
        serial_number=sbom.serial_number,
        document_timestamp=sbom.timestamp,
    )
    result = store.import_revision(slug, version, draft, evaluations, actor=actor, at=clock.now())
    return ImportOutcome(result, read.issues, tuple(_skipped(entries)))


def _stored_identity(
    pk: int,
    name: str,
    version: str | None,
    group: str | None,
    purl: str | None,
    cpes: tuple[str, ...],
) -> ComponentIdentity:
    return identify(
        Component(ref=str(pk), name=name, version=version, group=group, purl=purl, cpes=cpes)
    )


def reevaluate(store: PortfolioStore, index: AdvisoryIndex, *, actor: str, clock: Clock) -> Delta:
    """Re-match the identities new intelligence may affect and update every finding.

    Cost follows the change: the identities holding a key of a changed record, however
    many releases hold them."""
    pending = store.pending_changes()
    if pending.empty:
        return Delta(skipped=True)
    identities = [
        (c.pk, _stored_identity(c.pk, c.name, c.version, c.group, c.purl, c.cpes))
        for c in pending.components
    ]
    evaluations = evaluate_identities(identities, index)
    return store.apply_reevaluation(pending, evaluations, actor=actor, at=clock.now())
