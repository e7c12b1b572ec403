"""Component support records (REQUIREMENTS 3 and 4): set them, export them, watch them.

* :func:`set_component_support` stores (or clears) the support record of one component
  of a release's current SBOM revision; the record is validated by
  :class:`~medwarden.portfolio.support.ComponentSupport` (a date or a justification is
  required) and the change is audited by the store in the same transaction.
* :func:`annotated_sbom` returns the current SBOM of a release with the stored records
  written into it (:func:`medwarden.sbom.annotate.annotate_sbom`), so they travel as
  SPDX 2.3 ``validUntilDate`` and CycloneDX component properties and come back
  unchanged when the document is imported again.
* :func:`end_of_support_report` lists the fielded components that need attention.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from medwarden import __version__
from medwarden.core.clock import Clock
from medwarden.portfolio.installed import SupportRecord
from medwarden.portfolio.model import RevisionInfo
from medwarden.portfolio.support import (
    ComponentSupport,
    StoredSupport,
    SupportedRevision,
    end_of_support_findings,
)
from medwarden.sbom.annotate import SupportAnnotation, annotate_sbom
from medwarden.sbom.model import SbomFormat

__all__ = [
    "AnnotatedSbom",
    "EndOfSupportItem",
    "SupportRecords",
    "SupportSource",
    "annotated_sbom",
    "end_of_support_report",
    "set_component_support",
    "support_record",
]


class SupportSource(Protocol):
    """Where the support records of the current SBOMs come from."""

    def support_records(self, products: frozenset[str] | None = None) -> list[SupportRecord]:
        """Every component with support data in a current SBOM."""
        ...


class SupportRecords(Protocol):
    """Where the support record of each component of each revision is stored."""

    def set_support(
        self,
        slug: str,
        version: str,
        ref: str,
        support: ComponentSupport | None,
        *,
        actor: str,
        at: datetime,
        reason: str | None = None,
    ) -> StoredSupport:
        """Store (None: clear) one component's record in the current revision, audited."""
        ...

    def current_revision(self, slug: str, version: str) -> SupportedRevision:
        """The current revision's document and every component's stored record."""
        ...


@dataclass(frozen=True, slots=True)
class AnnotatedSbom:
    """A release's current SBOM with its stored support records written into it."""

    revision: RevisionInfo
    document: bytes

    @property
    def media_type(self) -> str:
        """The media type of the document (the one it was imported with)."""
        return self.revision.media_type


def support_record(
    level: str | None, end_of_support: date | None, justification: str | None
) -> ComponentSupport | None:
    """The record these values state: None when all three are empty (clear the record),
    else a validated :class:`ComponentSupport` -- a level with neither a date nor a
    justification raises :class:`~medwarden.errors.RuleViolationError`."""
    if not (level or "").strip() and end_of_support is None and not (justification or "").strip():
        return None
    return ComponentSupport(level, end_of_support, justification)


def set_component_support(
    repo: SupportRecords,
    slug: str,
    version: str,
    ref: str,
    *,
    level: str | None,
    end_of_support: date | None,
    justification: str | None,
    actor: str,
    clock: Clock,
    reason: str | None = None,
) -> StoredSupport:
    """Set (or, with all three values empty, clear) a component's support record now."""
    support = support_record(level, end_of_support, justification)
    return repo.set_support(slug, version, ref, support, actor=actor, at=clock.now(), reason=reason)


def _annotation(support: ComponentSupport | None) -> SupportAnnotation | None:
    if support is None:
        return None
    return SupportAnnotation(support.level, support.end_of_support, support.justification)


def annotated_sbom(repo: SupportRecords, slug: str, version: str, *, clock: Clock) -> AnnotatedSbom:
    """The release's current SBOM with every component's stored support record written in
    (and support statements of components without a record removed).

    The stored document is not changed.  SPDX tag-value and CycloneDX 1.2 documents
    cannot carry the records (:class:`~medwarden.errors.UsageError`)."""
    current = repo.current_revision(slug, version)
    records = {ref: _annotation(support) for ref, support in current.records.items()}
    document = annotate_sbom(
        current.document,
        SbomFormat(current.info.format),
        records,
        at=clock.now(),
        tool=f"medwarden-{__version__}",
    )
    return AnnotatedSbom(current.info, document)


@dataclass(frozen=True, slots=True)
class EndOfSupportItem:
    """One component of one release that needs attention, and why."""

    product: str
    release: str
    ref: str
    component: str
    reason: str
    end_of_support: date | None
    level: str | None


def end_of_support_report(
    source: SupportSource, *, today: date, products: frozenset[str] | None = None
) -> list[EndOfSupportItem]:
    """Every component past, near (the product's horizon) or before the device's planned
    end of support, or marked no longer maintained or abandoned."""
    out: list[EndOfSupportItem] = []
    for record in source.support_records(products):
        for item in end_of_support_findings(
            [(record.ref, record.support)],
            today=today,
            horizon_days=record.horizon_days,
            device_support_end=record.device_support_end,
        ):
            name = f"{record.name}@{record.version}" if record.version else record.name
            out.append(
                EndOfSupportItem(
                    record.product,
                    record.release,
                    record.ref,
                    name,
                    item.reason,
                    item.end_of_support,
                    item.level,
                )
            )
    return out
