"""The evidence pack of one product version (REQUIREMENTS 52): records, hashes, a zip.

:func:`evidence_pack` builds, from one store snapshot (:class:`ReleaseSnapshot`), a zip
holding::

    README.txt                      how to verify the pack
    manifest.json                   every other file with its SHA-256 and size, the audit
                                    trail head (COUNT:HASH) at export time, counts
    SHA256SUMS                      the same hashes for ``sha256sum -c``
    product.json, release.json      the product and release facts, the revision list
    support.json                    the current revision's component support records
    sbom/revision-0001.cdx.json     every SBOM revision, byte for byte as imported
    findings/finding-00000042.json  each finding (open and resolved): evidence, complete
                                    decision history, policy applications
    policies.json                   the carry-over policies that decided (or logged) them
    audit/events.json               the audit events whose subject is the product, the
                                    release, one of its findings or one of those policies

The output is deterministic: entries sorted, JSON with sorted keys, every zip entry
dated by the export clock, fixed attributes, so the same state exported at the same
clock reading yields the same bytes.  Nothing in the pack names who exported it.

Cost of the audit selection: the trail is streamed up to the exported head through
:meth:`~medwarden.services.ports.AuditLog.events` (one query per 1,000 events) and
filtered here on ``(subject_type, subject_id)``, so an export reads the whole trail --
time proportional to the trail's length (measured on SQLite: 200,000 events in 3.6 s),
memory proportional to the events kept.  An index on the subject columns
would make it proportional to the release; the trail is not that long yet.

A policy event lists every finding the policy touched, in any product; events are
included whole, because a redacted event would no longer match its hash.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from medwarden import __version__
from medwarden.audit.chain import Checkpoint, canonical_bytes
from medwarden.audit.model import AuditEvent
from medwarden.core.clock import Clock
from medwarden.core.digests import sha256_hex
from medwarden.portfolio.findings import FindingView
from medwarden.portfolio.model import Product, Release, RevisionInfo
from medwarden.portfolio.support import ComponentSupport
from medwarden.services.ports import AuditLog
from medwarden.vex.carryover import CarryOverPolicy, PolicyApplication
from medwarden.vex.triage import DecisionRecord

__all__ = [
    "PACK_FORMAT",
    "EvidencePack",
    "EvidenceSource",
    "FindingEvidence",
    "PackFile",
    "ReleaseSnapshot",
    "RevisionDocument",
    "evidence_pack",
    "pack_files",
    "write_zip",
]

PACK_FORMAT = "medwarden-evidence-pack/1"
"""The ``format`` the manifest names; changes whenever the layout does."""

_JSON = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
_EXTENSIONS = {
    "cyclonedx-json": ".cdx.json",
    "cyclonedx-xml": ".cdx.xml",
    "spdx-json": ".spdx.json",
    "spdx-tag-value": ".spdx",
}
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class RevisionDocument:
    """One SBOM revision and its document as imported."""

    info: RevisionInfo
    document: bytes


@dataclass(frozen=True, slots=True)
class FindingEvidence:
    """A finding with its evidence, current decision, every decision and policy application."""

    finding: FindingView
    decision_pk: int | None
    decisions: tuple[DecisionRecord, ...]
    applications: tuple[PolicyApplication, ...]


@dataclass(frozen=True, slots=True)
class ReleaseSnapshot:
    """Everything the pack holds but the audit events, read in one transaction, and the
    audit trail's head (``audit_count`` events ending in ``audit_head``) at that moment."""

    product: Product
    release: Release
    revisions: tuple[RevisionDocument, ...]
    support: tuple[tuple[str, ComponentSupport], ...]
    findings: tuple[FindingEvidence, ...]
    policies: tuple[CarryOverPolicy, ...]
    audit_count: int
    audit_head: str

    @property
    def checkpoint(self) -> Checkpoint:
        """The audit head as ``medwarden audit verify --checkpoint`` takes it."""
        return Checkpoint(self.audit_count, self.audit_head)


class EvidenceSource(Protocol):
    """Where the content of a release's evidence pack is read from."""

    def release_snapshot(self, slug: str, version: str) -> ReleaseSnapshot:
        """The release's records and the audit head, as one consistent snapshot."""
        ...


@dataclass(frozen=True, slots=True)
class PackFile:
    """One file of a pack: its path in the zip, SHA-256 and size."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class EvidencePack:
    """An evidence pack: the zip bytes, what they hold, and the audit checkpoint."""

    data: bytes
    files: tuple[PackFile, ...]
    checkpoint: Checkpoint
    manifest_sha256: str
    events: int

    @property
    def sha256(self) -> str:
        """The SHA-256 of the whole zip."""
        return sha256_hex(self.data)


def evidence_pack(
    source: EvidenceSource, audit: AuditLog, slug: str, version: str, *, clock: Clock
) -> EvidencePack:
    """Build the evidence pack of ``slug``@``version`` as the store holds it now."""
    snapshot = source.release_snapshot(slug, version)
    events = _events(audit, snapshot)
    at = clock.now()
    files = pack_files(snapshot, events, at)
    listed = tuple(
        PackFile(path, sha256_hex(data), len(data)) for path, data in sorted(files.items())
    )
    return EvidencePack(
        data=write_zip(files, at),
        files=listed,
        checkpoint=snapshot.checkpoint,
        manifest_sha256=sha256_hex(files["manifest.json"]),
        events=len(events),
    )


def _subjects(snapshot: ReleaseSnapshot) -> set[tuple[str, str]]:
    slug = snapshot.product.slug
    subjects = {("product", slug), ("release", f"{slug}@{snapshot.release.version}")}
    subjects |= {("finding", str(f.finding.id)) for f in snapshot.findings}
    subjects |= {("policy", str(p.pk)) for p in snapshot.policies if p.pk is not None}
    return subjects


def _events(audit: AuditLog, snapshot: ReleaseSnapshot) -> list[AuditEvent]:
    """The events up to the snapshot's head whose subject belongs to the release."""
    subjects = _subjects(snapshot)
    kept: list[AuditEvent] = []
    for event in audit.events():
        if event.seq > snapshot.audit_count:
            break
        if (event.subject_type, event.subject_id) in subjects:
            kept.append(event)
    return kept


# -- the files -----------------------------------------------------------------------------


def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=_JSON) + b"\n"


def _revision_path(info: RevisionInfo) -> str:
    return f"sbom/revision-{info.number:04d}{_EXTENSIONS.get(info.format, '.sbom')}"


def _revision(info: RevisionInfo) -> dict[str, Any]:
    return {**asdict(info), "file": _revision_path(info), "sha256": info.digest}


def _product(product: Product) -> dict[str, Any]:
    facts = asdict(product)
    facts.pop("release_count")
    return facts


def _release(snapshot: ReleaseSnapshot) -> dict[str, Any]:
    release = snapshot.release
    current = release.current_revision
    return {
        "product": release.product,
        "version": release.version,
        "state": release.state.value,
        "created_at": release.created_at,
        "released_at": release.released_at,
        "support_end": release.support_end,
        "current_revision": None if current is None else current.number,
        "open_findings": release.open_findings,
        "findings": len(snapshot.findings),
        "revisions": [_revision(r.info) for r in snapshot.revisions],
    }


def _decision(record: DecisionRecord, current: int | None) -> dict[str, Any]:
    return {
        "pk": record.pk,
        "current": record.pk == current,
        "actor": record.actor,
        "at": record.at,
        "policy_pk": record.policy_pk,
        "reverts_pk": record.reverts_pk,
        "decision": record.decision.as_dict(),
    }


def _finding(item: FindingEvidence) -> dict[str, Any]:
    return {
        "finding": asdict(item.finding),
        "current_decision_pk": item.decision_pk,
        "decisions": [_decision(d, item.decision_pk) for d in item.decisions],
        "policy_applications": [asdict(a) for a in item.applications],
    }


def _policy(p: CarryOverPolicy) -> dict[str, Any]:
    return {
        "pk": p.pk,
        "name": p.name,
        "vulnerability_id": p.vulnerability_id,
        "family": p.family,
        "package_name": p.package_name,
        "component_version": p.component_version,
        "version_range": p.version_range,
        "product": p.product,
        "priority": p.priority,
        "valid_from": p.valid_from,
        "valid_until": p.valid_until,
        "mode": p.mode.value,
        "enabled": p.enabled,
        "created_at": p.created_at,
        "created_by": p.created_by,
        "decision": p.decision.as_dict(),
    }


def _event(event: AuditEvent) -> dict[str, Any]:
    """The event as its hash covers it (canonical content) plus the hash."""
    content: dict[str, Any] = orjson.loads(canonical_bytes(event))
    return {**content, "hash": event.hash}


def _support(support: tuple[tuple[str, ComponentSupport], ...]) -> list[dict[str, Any]]:
    return [
        {
            "ref": ref,
            "level": s.level,
            "end_of_support": s.end_of_support,
            "justification": s.justification,
        }
        for ref, s in support
    ]


def pack_files(
    snapshot: ReleaseSnapshot, events: list[AuditEvent], at: datetime
) -> dict[str, bytes]:
    """Every file of the pack by path (pure: the same arguments give the same bytes)."""
    files: dict[str, bytes] = {
        "product.json": _json(_product(snapshot.product)),
        "release.json": _json(_release(snapshot)),
        "support.json": _json(_support(snapshot.support)),
        "policies.json": _json([_policy(p) for p in snapshot.policies]),
        "audit/events.json": _json([_event(e) for e in events]),
    }
    for revision in snapshot.revisions:
        files[_revision_path(revision.info)] = revision.document
    for item in snapshot.findings:
        files[f"findings/finding-{item.finding.id:08d}.json"] = _json(_finding(item))
    files["README.txt"] = _readme(snapshot, at).encode()
    hashed = sorted(files.items())
    files["SHA256SUMS"] = "".join(f"{sha256_hex(d)}  {p}\n" for p, d in hashed).encode()
    files["manifest.json"] = _json(_manifest(snapshot, files, len(events), at))
    return files


def _manifest(
    snapshot: ReleaseSnapshot, files: Mapping[str, bytes], events: int, at: datetime
) -> dict[str, Any]:
    return {
        "format": PACK_FORMAT,
        "product": snapshot.product.slug,
        "release": snapshot.release.version,
        "exported_at": at.astimezone(UTC),
        "medwarden_version": __version__,
        "audit": {
            "trail_events": snapshot.audit_count,
            "head": snapshot.audit_head,
            "checkpoint": str(snapshot.checkpoint),
            "events_included": events,
        },
        "counts": {
            "revisions": len(snapshot.revisions),
            "findings": len(snapshot.findings),
            "decisions": sum(len(f.decisions) for f in snapshot.findings),
            "policy_applications": sum(len(f.applications) for f in snapshot.findings),
            "policies": len(snapshot.policies),
            "audit_events": events,
        },
        "files": [
            {"path": path, "sha256": sha256_hex(data), "bytes": len(data)}
            for path, data in sorted(files.items())
        ],
    }


_README = """\
medwarden evidence pack: {product} version {version}
=====================================================

Exported {exported_at} by medwarden {medwarden}; pack format {format}.

What it holds
  product.json, release.json   the product and release facts, every SBOM revision listed
  sbom/                        every SBOM revision exactly as imported (its SHA-256 is the
                               digest release.json gives for it)
  support.json                 component support records of the current revision
  findings/                    each finding of this version (open and resolved) with its
                               match evidence, every triage decision ever recorded (none is
                               ever changed: an edited assessment is a new decision, the
                               earlier ones stay listed) and its carry-over policy applications
  policies.json                the carry-over policies behind those applications
  audit/events.json            the audit events about the product, this version, its
                               findings and those policies, each with its chain hash
  SHA256SUMS                   the SHA-256 of every file above, for sha256sum
  manifest.json                every other file with SHA-256 and size, the audit trail head
                               when the pack was made, and counts

How to verify
  1. Unpack into an empty directory and check every file against its recorded hash:

         sha256sum -c SHA256SUMS

     manifest.json lists the same hashes (and that of SHA256SUMS); its own SHA-256 was
     reported at export (`medwarden portfolio evidence` prints it; the API sends it as
     the header X-Medwarden-Manifest-SHA256).

  2. Check that the audit trail of the medwarden store still holds, unchanged, everything
     recorded up to this export ({count} events ending in the hash below); add --db to
     name the store if it is not the default one:

         medwarden audit verify --checkpoint {checkpoint}

     It re-computes every event's hash and link and fails (exit 4) if any event up to the
     checkpoint was altered or removed, or the trail was rewritten.

  3. Optionally re-compute the hash of an event in audit/events.json: it is
     SHA-256( b"medwarden-audit-v1\\x00" + bytes.fromhex(prev_hash) + JSON ), JSON being
     the event without "hash", keys sorted, no whitespace, UTF-8 (Python:
     json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)).

Audit checkpoint: {checkpoint}
"""


def _readme(snapshot: ReleaseSnapshot, at: datetime) -> str:
    return _README.format(
        product=snapshot.product.slug,
        version=snapshot.release.version,
        exported_at=at.astimezone(UTC).isoformat(timespec="seconds"),
        medwarden=__version__,
        format=PACK_FORMAT,
        count=snapshot.audit_count,
        checkpoint=snapshot.checkpoint,
    )


# -- the zip -------------------------------------------------------------------------------


def _zip_time(at: datetime) -> tuple[int, int, int, int, int, int]:
    stamp = at.astimezone(UTC)
    fields = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    return max(fields, _ZIP_EPOCH)


def write_zip(files: Mapping[str, bytes], at: datetime) -> bytes:
    """A deflated zip of ``files``: entries sorted by path, each dated ``at`` (UTC), with
    fixed attributes (regular file, mode 0644, Unix), so equal input gives equal bytes."""
    buffer = io.BytesIO()
    date_time = _zip_time(at)
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            archive.writestr(info, files[path], compresslevel=9)
    return buffer.getvalue()
