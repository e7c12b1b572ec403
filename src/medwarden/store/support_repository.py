"""Support records of the components of a release's current SBOM revision (REQUIREMENTS 3).

The support columns of ``revision_component`` (``level_of_support``, ``end_of_support``,
``support_justification``) are annotations of a revision: an import fills them from the
document's properties, :meth:`SqlSupport.set_support` changes them afterwards.  The
document itself is never touched -- ``sbom_revision.document`` stays byte-identical --
and the annotated export writes the stored records into a copy of it
(:meth:`SqlSupport.current_revision` reads both in one transaction).

A change is one write transaction that also appends its audit event
(``portfolio.support_set``, subject the release, with the component's record before and
after); a write that changes nothing appends nothing.  Writers serialise on SQLite by
its write lock and on PostgreSQL by the audit trail's advisory lock, taken first.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, text, update

from medwarden.audit.model import EventDraft
from medwarden.errors import NotFoundError
from medwarden.portfolio.support import ComponentSupport, StoredSupport, SupportedRevision
from medwarden.store._portfolio_rows import revision_from_row
from medwarden.store._release_lookup import product_and_release, stored_support, support_state
from medwarden.store.audit_repository import _PG_AUDIT_LOCK, append_event
from medwarden.store.schema_portfolio import revision_component, sbom_revision

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["SUPPORT_SET", "SqlSupport"]

SUPPORT_SET = "portfolio.support_set"
"""The audit action of a changed support record."""


def _no_sbom(slug: str, version: str) -> NotFoundError:
    return NotFoundError(
        f"release {slug}@{version} has no SBOM yet",
        hint="import one first (medwarden release import)",
    )


class SqlSupport:
    """Set, clear and read the support records stored with SBOM revisions."""

    def __init__(self, database: Database) -> None:
        self._database = database

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
        """Store ``support`` (None: clear it) for component ``ref`` of the release's current
        SBOM revision, audited in the same transaction; the document is not changed.

        A release without an SBOM, or a ref its current revision does not hold, is a
        :class:`~medwarden.errors.NotFoundError`."""
        rc = revision_component.c
        with self._database.write("setting a component's support record") as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_AUDIT_LOCK})
            _prod, rel = product_and_release(conn, slug, version)
            if rel["current_revision_pk"] is None:
                raise _no_sbom(slug, version)
            row = conn.execute(
                select(rc.level_of_support, rc.end_of_support, rc.support_justification).where(
                    rc.revision_pk == rel["current_revision_pk"], rc.ref == ref
                )
            ).first()
            if row is None:
                raise NotFoundError(
                    f"the current SBOM of {slug}@{version} has no component {ref!r}",
                    hint="component refs are the SBOM's bom-ref / SPDXID values",
                )
            number = int(
                conn.execute(
                    select(sbom_revision.c.number).where(
                        sbom_revision.c.pk == rel["current_revision_pk"]
                    )
                ).scalar_one()
            )
            before = stored_support(*row)
            stored = StoredSupport(slug, version, number, ref, support, before != support)
            if not stored.changed:
                return stored
            conn.execute(
                update(revision_component)
                .where(rc.revision_pk == rel["current_revision_pk"], rc.ref == ref)
                .values(
                    level_of_support=support.level if support else None,
                    end_of_support=support.end_of_support if support else None,
                    support_justification=support.justification if support else None,
                )
            )
            subject = {"ref": ref, "revision": number}
            append_event(
                conn,
                EventDraft(
                    at=at,
                    actor=actor,
                    action=SUPPORT_SET,
                    subject_type="release",
                    subject_id=f"{slug}@{version}",
                    before={**subject, "support": support_state(before)},
                    after={**subject, "support": support_state(support)},
                    reason=reason,
                ),
            )
            return stored

    def current_revision(self, slug: str, version: str) -> SupportedRevision:
        """The release's current revision, its document as imported and every component's
        stored support record, read in one transaction (two queries after the lookup)."""
        rc = revision_component.c
        with self._database.read("reading the support records of an SBOM revision") as conn:
            _prod, rel = product_and_release(conn, slug, version)
            revision = (
                conn.execute(
                    select(sbom_revision).where(sbom_revision.c.pk == rel["current_revision_pk"])
                )
                .mappings()
                .first()
            )
            if revision is None:
                raise _no_sbom(slug, version)
            rows = conn.execute(
                select(rc.ref, rc.level_of_support, rc.end_of_support, rc.support_justification)
                .where(rc.revision_pk == revision["pk"])
                .order_by(rc.ref)
            ).all()
            return SupportedRevision(
                info=revision_from_row(revision),
                document=bytes(revision["document"]),
                records={ref: stored_support(level, end, why) for ref, level, end, why in rows},
            )
