"""The SQL side of the portfolio: products, releases, SBOM revisions, matches and findings.

Every mutation is one write transaction that also appends its audit event, enqueues
its notifications (outbox) and applies carry-over policies to the findings it
created, so a change, its record and its consequences commit together or not at all.
The number of statements depends on the size of the change (500 keys per chunk),
never on the number of releases, components or findings already stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from medwarden.errors import ConflictError, NotFoundError
from medwarden.portfolio.findings import (
    Delta,
    ImportResult,
)
from medwarden.portfolio.model import (
    LifecycleState,
    Product,
    ProductSpec,
    Release,
    ReleaseSpec,
    RevisionInfo,
)
from medwarden.portfolio.notices import kev_notices
from medwarden.services.ports import Evaluation, PendingChanges, RevisionDraft
from medwarden.store._batching import chunked
from medwarden.store._bulk import bulk_insert
from medwarden.store._finding_sync import Scope, sync_findings
from medwarden.store._portfolio_field import FieldData
from medwarden.store._portfolio_findings import (
    consequences,
    enqueue,
    kev_groups,
)
from medwarden.store._portfolio_matches import (
    affected_components,
    components,
    ensure_identities,
    write_evaluations,
)
from medwarden.store._portfolio_records import FindingRecords
from medwarden.store._portfolio_rows import (
    event_draft,
    markets_json,
    product_from_row,
    release_from_row,
    revision_from_row,
)
from medwarden.store._release_lookup import product_row, release_row
from medwarden.store._writes import allocate_pks
from medwarden.store.audit_repository import append_event
from medwarden.store.schema import advisory, kev
from medwarden.store.schema_portfolio import (
    component,
    cursor_state,
    finding,
    product,
    release,
    revision_component,
    sbom_revision,
)

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["ADVISORY_CURSOR", "KEV_CURSOR", "SqlPortfolio"]

ADVISORY_CURSOR = "reevaluation.advisory"
KEV_CURSOR = "reevaluation.kev"
_PG_PORTFOLIO_LOCK = 0x6D656470  # serialises re-evaluation and imports on PostgreSQL


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_PORTFOLIO_LOCK})


def _cursor(conn: Connection, name: str) -> int:
    value = conn.execute(select(cursor_state.c.value).where(cursor_state.c.name == name)).scalar()
    return int(value or 0)


def _set_cursor(conn: Connection, name: str, value: int, at: datetime) -> None:
    updated = conn.execute(
        update(cursor_state).where(cursor_state.c.name == name).values(value=value, updated_at=at)
    ).rowcount
    if not updated:
        conn.execute(insert(cursor_state).values(name=name, value=value, updated_at=at))


def _top(conn: Connection, column: Any) -> int:
    return int(conn.execute(select(func.coalesce(func.max(column), 0))).scalar_one())


class SqlPortfolio(FindingRecords, FieldData):
    """Products, releases, SBOM revisions and findings on SQLite or PostgreSQL."""

    def __init__(self, database: Database) -> None:
        self._database = database

    # -- products and releases -------------------------------------------------------

    def create_product(self, spec: ProductSpec, *, actor: str, at: datetime) -> Product:
        """Store a new product; a slug already in use is a :class:`ConflictError`."""
        row = {
            "slug": spec.slug,
            "name": spec.name,
            "manufacturer": spec.manufacturer,
            "device_model": spec.device_model,
            "regulatory_class": spec.regulatory_class,
            "markets_json": markets_json(spec.markets),
            "monitoring_interval_s": spec.monitoring_interval_s,
            "support_end": spec.support_end,
            "eos_horizon_days": spec.eos_horizon_days,
            "sbom_public": spec.sbom_public,
            "created_at": at,
        }
        try:
            with self._database.write("creating a product") as conn:
                conn.execute(insert(product).values(row))
                stored = product_from_row(product_row(conn, spec.slug))
                append_event(
                    conn,
                    event_draft(
                        at,
                        actor,
                        "portfolio.product_create",
                        "product",
                        spec.slug,
                        after=_product_state(stored),
                    ),
                )
        except Exception as exc:
            if _is_integrity(exc):
                raise ConflictError(f"a product {spec.slug!r} exists already") from None
            raise
        return stored

    def product(self, slug: str) -> Product:
        """The product ``slug``; :class:`NotFoundError` when there is none."""
        with self._database.read("reading a product") as conn:
            row = product_row(conn, slug)
            count = conn.execute(
                select(func.count()).where(release.c.product_pk == row["pk"])
            ).scalar_one()
            return product_from_row(row, count)

    def products(self, slugs: frozenset[str] | None = None) -> list[Product]:
        """Every product (or those of ``slugs``), by slug, with release counts; two queries."""
        query = select(product).order_by(product.c.slug)
        if slugs is not None:
            query = query.where(product.c.slug.in_(sorted(slugs)))
        with self._database.read("listing products") as conn:
            counts: dict[int, int] = dict(
                conn.execute(
                    select(release.c.product_pk, func.count()).group_by(release.c.product_pk)
                ).all()
            )
            rows = conn.execute(query).mappings().all()
            return [product_from_row(r, counts.get(r["pk"], 0)) for r in rows]

    def create_release(self, slug: str, spec: ReleaseSpec, *, actor: str, at: datetime) -> Release:
        """Store a new release of product ``slug``; an existing version is a conflict."""
        try:
            with self._database.write("creating a release") as conn:
                prod = product_row(conn, slug)
                conn.execute(
                    insert(release).values(
                        product_pk=prod["pk"],
                        version=spec.version,
                        state=spec.state.value,
                        released_at=spec.released_at,
                        support_end=spec.support_end,
                        created_at=at,
                    )
                )
                stored = release_from_row(slug, release_row(conn, prod["pk"], slug, spec.version))
                append_event(
                    conn,
                    event_draft(
                        at,
                        actor,
                        "portfolio.release_create",
                        "release",
                        f"{slug}@{spec.version}",
                        after=_release_state(stored),
                    ),
                )
        except Exception as exc:
            if _is_integrity(exc):
                raise ConflictError(
                    f"product {slug!r} has a release {spec.version!r} already"
                ) from None
            raise
        return stored

    def set_release_state(
        self,
        slug: str,
        version: str,
        state: LifecycleState,
        *,
        actor: str,
        at: datetime,
        reason: str | None = None,
    ) -> Release:
        """Move a release to another lifecycle state (audited with before and after)."""
        with self._database.write("changing a release state") as conn:
            prod = product_row(conn, slug)
            row = release_row(conn, prod["pk"], slug, version)
            conn.execute(update(release).where(release.c.pk == row["pk"]).values(state=state.value))
            append_event(
                conn,
                event_draft(
                    at,
                    actor,
                    "portfolio.release_state",
                    "release",
                    f"{slug}@{version}",
                    before={"state": row["state"]},
                    after={"state": state.value},
                    reason=reason,
                ),
            )
            return release_from_row(slug, {**row, "state": state.value})

    def release(self, slug: str, version: str) -> Release:
        """One release with its current revision and open-finding count."""
        with self._database.read("reading a release") as conn:
            prod = product_row(conn, slug)
            row = release_row(conn, prod["pk"], slug, version)
            return self._releases(conn, slug, [row])[0]

    def releases(self, slug: str) -> list[Release]:
        """Every release of product ``slug``, oldest first; three queries whatever the count."""
        with self._database.read("listing releases") as conn:
            prod = product_row(conn, slug)
            rows = (
                conn.execute(
                    select(release).where(release.c.product_pk == prod["pk"]).order_by(release.c.pk)
                )
                .mappings()
                .all()
            )
            return self._releases(conn, slug, rows)

    @staticmethod
    def _releases(conn: Connection, slug: str, rows: Sequence[Mapping[Any, Any]]) -> list[Release]:
        revision_pks = [r["current_revision_pk"] for r in rows if r["current_revision_pk"]]
        release_pks = [r["pk"] for r in rows]
        revisions: dict[int, RevisionInfo] = {}
        counts: dict[int, int] = {}
        for chunk in chunked(revision_pks):
            for rev in conn.execute(
                select(*[c for c in sbom_revision.c if c.name != "document"]).where(
                    sbom_revision.c.pk.in_(chunk)
                )
            ).mappings():
                revisions[rev["pk"]] = revision_from_row(rev)
        for chunk in chunked(release_pks):
            counts.update(
                conn.execute(
                    select(finding.c.release_pk, func.count())
                    .where(finding.c.release_pk.in_(chunk), finding.c.state == "open")
                    .group_by(finding.c.release_pk)
                ).all()
            )
        return [
            release_from_row(
                slug, r, revisions.get(r["current_revision_pk"] or 0), counts.get(r["pk"], 0)
            )
            for r in rows
        ]

    # -- SBOM revisions ----------------------------------------------------------------

    def revisions(self, slug: str, version: str) -> list[RevisionInfo]:
        """Every SBOM revision of a release, oldest first (documents not loaded)."""
        with self._database.read("listing SBOM revisions") as conn:
            prod = product_row(conn, slug)
            rel = release_row(conn, prod["pk"], slug, version)
            cols = [c for c in sbom_revision.c if c.name != "document"]
            rows = conn.execute(
                select(*cols)
                .where(sbom_revision.c.release_pk == rel["pk"])
                .order_by(sbom_revision.c.number)
            ).mappings()
            return [revision_from_row(r) for r in rows]

    def revision_document(
        self, slug: str, version: str, number: int | None = None
    ) -> tuple[RevisionInfo, bytes]:
        """A revision's document exactly as imported (the current one unless ``number``)."""
        with self._database.read("reading an SBOM revision") as conn:
            prod = product_row(conn, slug)
            rel = release_row(conn, prod["pk"], slug, version)
            query = select(sbom_revision).where(sbom_revision.c.release_pk == rel["pk"])
            if number is None:
                query = query.where(sbom_revision.c.pk == rel["current_revision_pk"])
            else:
                query = query.where(sbom_revision.c.number == number)
            row = conn.execute(query).mappings().first()
            if row is None:
                which = "no SBOM yet" if number is None else f"no SBOM revision {number}"
                raise NotFoundError(f"release {slug}@{version} has {which}")
            return revision_from_row(row), bytes(row["document"])

    def unevaluated(self, digests: Iterable[str]) -> set[str]:
        """Those identity digests that are not stored yet or were never matched."""
        wanted = set(digests)
        done: set[str] = set()
        with self._database.read("looking up component identities") as conn:
            for chunk in chunked(sorted(wanted)):
                done.update(
                    conn.execute(
                        select(component.c.identity).where(
                            component.c.identity.in_(chunk), component.c.evaluated_at.is_not(None)
                        )
                    ).scalars()
                )
        return wanted - done

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
        """Store ``draft`` as the release's next revision and bring its findings up to date.

        ``evaluations`` holds the matching results of identities that were not evaluated
        yet, keyed by identity digest.  The previous revisions stay as they were."""
        with self._database.write("importing an SBOM revision") as conn:
            _lock(conn)
            prod = product_row(conn, slug)
            rel = release_row(conn, prod["pk"], slug, version)
            number = 1 + int(
                conn.execute(
                    select(func.coalesce(func.max(sbom_revision.c.number), 0)).where(
                        sbom_revision.c.release_pk == rel["pk"]
                    )
                ).scalar_one()
            )
            revision_pk = allocate_pks(conn, sbom_revision, 1)[0]
            conn.execute(
                insert(sbom_revision).values(
                    pk=revision_pk,
                    release_pk=rel["pk"],
                    number=number,
                    format=draft.format,
                    spec_version=draft.spec_version,
                    serial_number=draft.serial_number,
                    document_timestamp=draft.document_timestamp,
                    media_type=draft.media_type,
                    digest=draft.digest,
                    document=draft.document,
                    component_count=len(draft.entries),
                    imported_at=at,
                    imported_by=actor,
                )
            )
            identities = {e.identity.digest: e.identity for e in draft.entries}
            pks, created = ensure_identities(conn, identities)
            fresh = write_evaluations(
                conn, {pks[d]: ev for d, ev in evaluations.items() if d in pks}, at, only_new=True
            )
            bulk_insert(
                conn,
                revision_component,
                [
                    {
                        "revision_pk": revision_pk,
                        "ref": e.ref,
                        "component_pk": pks[e.identity.digest],
                        "supplier": e.supplier,
                        "level_of_support": e.support.level if e.support else None,
                        "end_of_support": e.support.end_of_support if e.support else None,
                        "support_justification": e.support.justification if e.support else None,
                    }
                    for e in draft.entries
                ],
            )
            conn.execute(
                update(release)
                .where(release.c.pk == rel["pk"])
                .values(current_revision_pk=revision_pk)
            )
            counts = sync_findings(conn, Scope(release_pk=rel["pk"]), at)
            delta = consequences(conn, counts, at, kev_findings=0, components=fresh)
            result = ImportResult(slug, version, number, len(draft.entries), created, fresh, delta)
            append_event(
                conn,
                event_draft(
                    at,
                    actor,
                    "portfolio.sbom_import",
                    "release",
                    f"{slug}@{version}",
                    after={
                        "revision": number,
                        "digest": draft.digest,
                        "format": f"{draft.format} {draft.spec_version}",
                        "components": len(draft.entries),
                        "findings": delta.as_counts(),
                    },
                ),
            )
            return result

    # -- re-evaluation ------------------------------------------------------------------

    def pending_changes(self) -> PendingChanges:
        """What changed in the mirror since the last re-evaluation, and which identities
        hold the keys of the changed records (or cached matches of them)."""
        with self._database.read("finding changed intelligence") as conn:
            cursor = _cursor(conn, ADVISORY_CURSOR)
            top = _top(conn, advisory.c.change_seq)
            kev_cursor = _cursor(conn, KEV_CURSOR)
            kev_top = _top(conn, kev.c.change_seq)
            pks = affected_components(conn, cursor, top) if top > cursor else set()
            return PendingChanges(cursor, top, kev_cursor, kev_top, components(conn, pks))

    def apply_reevaluation(
        self,
        pending: PendingChanges,
        evaluations: Mapping[int, Evaluation],
        *,
        actor: str,
        at: datetime,
    ) -> Delta:
        """Store the new matches of the affected identities and update every finding.

        A re-evaluation another process already applied (the cursors moved past
        ``pending``) is skipped, so two workers racing on the same change are safe."""
        with self._database.write("applying a re-evaluation") as conn:
            _lock(conn)
            cursor = _cursor(conn, ADVISORY_CURSOR)
            kev_cursor = _cursor(conn, KEV_CURSOR)
            if cursor >= pending.advisory_top and kev_cursor >= pending.kev_top:
                return Delta(skipped=True)
            fresh = write_evaluations(conn, evaluations, at, only_new=False)
            counts = sync_findings(conn, Scope(component_pks=list(evaluations)), at)
            listed = kev_groups(conn, kev_cursor, pending.kev_top)
            enqueue(conn, kev_notices(listed, at, pending.kev_top))
            delta = consequences(
                conn, counts, at, kev_findings=sum(g.findings for g in listed), components=fresh
            )
            _set_cursor(conn, ADVISORY_CURSOR, max(cursor, pending.advisory_top), at)
            _set_cursor(conn, KEV_CURSOR, max(kev_cursor, pending.kev_top), at)
            append_event(
                conn,
                event_draft(
                    at,
                    actor,
                    "portfolio.reevaluate",
                    "portfolio",
                    "all",
                    after={
                        "advisory_changes": [pending.advisory_cursor, pending.advisory_top],
                        "kev_changes": [pending.kev_cursor, pending.kev_top],
                        "findings": delta.as_counts(),
                    },
                ),
            )
            return delta


# -- helpers ------------------------------------------------------------------------------


def _is_integrity(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, IntegrityError):
            return True
        cause = cause.__cause__
    return False


def _product_state(p: Product) -> dict[str, Any]:
    return {
        "name": p.name,
        "manufacturer": p.manufacturer,
        "device_model": p.device_model,
        "regulatory_class": p.regulatory_class,
        "markets": [{"market": m.market, "regime": m.regime} for m in p.markets],
        "monitoring_interval_s": p.monitoring_interval_s,
        "support_end": p.support_end.isoformat() if p.support_end else None,
        "eos_horizon_days": p.eos_horizon_days,
        "sbom_public": p.sbom_public,
    }


def _release_state(r: Release) -> dict[str, Any]:
    return {
        "version": r.version,
        "state": r.state.value,
        "support_end": r.support_end.isoformat() if r.support_end else None,
    }
