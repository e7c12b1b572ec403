"""The SQL side of the portfolio: products, releases, SBOM revisions, matches and findings.

Every mutation is one write transaction that also appends its audit event, enqueues
its notifications (outbox) and applies carry-over policies to the findings it
created, so a change, its record and its consequences commit together or not at all.
The number of statements depends on the size of the change (500 keys per chunk),
never on the number of releases, components or findings already stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from medwarden.audit.model import EventDraft
from medwarden.errors import ConflictError, NotFoundError, UsageError
from medwarden.portfolio.findings import (
    Delta,
    FindingQuery,
    FindingReport,
    FindingView,
    ImportResult,
)
from medwarden.portfolio.installed import InstalledUnit, SupportRecord, WhereUsed
from medwarden.portfolio.model import (
    LifecycleState,
    Product,
    ProductSpec,
    Release,
    ReleaseSpec,
    RevisionInfo,
)
from medwarden.portfolio.notices import kev_notices
from medwarden.portfolio.support import ComponentSupport
from medwarden.services.ports import Evaluation, PendingChanges, RevisionDraft
from medwarden.store._batching import chunked
from medwarden.store._bulk import bulk_insert
from medwarden.store._finding_sync import Scope, sync_findings
from medwarden.store._portfolio_findings import (
    consequences,
    enqueue,
    finding_select,
    finding_view,
    kev_groups,
)
from medwarden.store._portfolio_matches import (
    affected_components,
    components,
    ensure_identities,
    write_evaluations,
)
from medwarden.store._portfolio_rows import (
    markets_json,
    product_from_row,
    release_from_row,
    revision_from_row,
)
from medwarden.store._writes import allocate_pks
from medwarden.store.audit_repository import append_event
from medwarden.store.schema import advisory, kev
from medwarden.store.schema_portfolio import (
    component,
    component_match,
    cursor_state,
    decision,
    finding,
    installed_unit,
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


def _product_row(conn: Connection, slug: str) -> Mapping[Any, Any]:
    row = conn.execute(select(product).where(product.c.slug == slug)).mappings().first()
    if row is None:
        raise NotFoundError(f"there is no product {slug!r}")
    return row


def _release_row(conn: Connection, product_pk: int, slug: str, version: str) -> Mapping[Any, Any]:
    row = (
        conn.execute(
            select(release).where(release.c.product_pk == product_pk, release.c.version == version)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"product {slug!r} has no release {version!r}")
    return row


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


class SqlPortfolio:
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
                stored = product_from_row(_product_row(conn, spec.slug))
                append_event(
                    conn,
                    _event(
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
            row = _product_row(conn, slug)
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
                prod = _product_row(conn, slug)
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
                stored = release_from_row(slug, _release_row(conn, prod["pk"], slug, spec.version))
                append_event(
                    conn,
                    _event(
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
            prod = _product_row(conn, slug)
            row = _release_row(conn, prod["pk"], slug, version)
            conn.execute(update(release).where(release.c.pk == row["pk"]).values(state=state.value))
            append_event(
                conn,
                _event(
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
            prod = _product_row(conn, slug)
            row = _release_row(conn, prod["pk"], slug, version)
            return self._releases(conn, slug, [row])[0]

    def releases(self, slug: str) -> list[Release]:
        """Every release of product ``slug``, oldest first; three queries whatever the count."""
        with self._database.read("listing releases") as conn:
            prod = _product_row(conn, slug)
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
            prod = _product_row(conn, slug)
            rel = _release_row(conn, prod["pk"], slug, version)
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
            prod = _product_row(conn, slug)
            rel = _release_row(conn, prod["pk"], slug, version)
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
            prod = _product_row(conn, slug)
            rel = _release_row(conn, prod["pk"], slug, version)
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
                _event(
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
                _event(
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

    # -- findings -------------------------------------------------------------------------

    def findings(self, query: FindingQuery) -> list[FindingView]:
        """One page of findings (ids above ``query.after``, ascending): one query, two with
        ``new_since`` (the first finds where such findings start, by the time index)."""
        with self._database.read("listing findings") as conn:
            if query.new_since is not None:
                # ``pk + 0`` keeps both databases from answering min(pk) by walking the
                # primary key; the (discovered_at, pk) index answers it directly.
                first = conn.execute(
                    select(func.min(finding.c.pk + 0)).where(
                        finding.c.discovered_at >= query.new_since
                    )
                ).scalar()
                if first is None:
                    return []
                query = replace(query, after=max(query.after, int(first) - 1))
            rows = conn.execute(finding_select(query)).mappings().all()
            return [finding_view(r) for r in rows]

    def finding(self, pk: int, products: frozenset[str] | None = None) -> FindingView:
        """One finding with its evidence; :class:`NotFoundError` if absent or not visible."""
        query = finding_select(FindingQuery(products=products, state=None, limit=1))
        query = (
            query.where(finding.c.pk == pk)
            .add_columns(component_match.c.payload)
            .outerjoin(
                component_match,
                and_(
                    component_match.c.component_pk == finding.c.component_pk,
                    component_match.c.vulnerability_id == finding.c.vulnerability_id,
                ),
            )
        )
        with self._database.read("reading a finding") as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(f"there is no finding {pk}")
        evidence = orjson.loads(row["payload"]) if row["payload"] is not None else None
        return finding_view(row, evidence)

    def decision_product(self, decision_pk: int) -> str:
        """The product of the finding a decision was made on (for scope checks)."""
        query = (
            select(product.c.slug)
            .select_from(
                decision.join(finding, finding.c.pk == decision.c.finding_pk).join(
                    product, product.c.pk == finding.c.product_pk
                )
            )
            .where(decision.c.pk == decision_pk)
        )
        with self._database.read("reading a decision's product") as conn:
            slug = conn.execute(query).scalar()
        if slug is None:
            raise NotFoundError(f"there is no decision {decision_pk}")
        return str(slug)

    def report_finding(
        self, slug: str, version: str, report: FindingReport, *, actor: str, at: datetime
    ) -> FindingView:
        """Record a finding people reported (researcher, internal test, complaint, ISAO).

        The component must be in the release's current SBOM; a finding the feeds already
        raised for the same component and vulnerability is a :class:`ConflictError`."""
        with self._database.write("recording a reported finding") as conn:
            prod = _product_row(conn, slug)
            rel = _release_row(conn, prod["pk"], slug, version)
            component_pk = conn.execute(
                select(revision_component.c.component_pk).where(
                    revision_component.c.revision_pk == rel["current_revision_pk"],
                    revision_component.c.ref == report.component_ref,
                )
            ).scalar()
            if component_pk is None:
                raise NotFoundError(
                    f"the current SBOM of {slug}@{version} has no component "
                    f"{report.component_ref!r}"
                )
            try:
                with conn.begin_nested():
                    pk = conn.execute(
                        insert(finding)
                        .values(
                            product_pk=prod["pk"],
                            release_pk=rel["pk"],
                            component_pk=component_pk,
                            vulnerability_id=report.vulnerability_id,
                            cve_id=report.cve_id,
                            severity=report.severity.value,
                            severity_rank=report.severity.rank,
                            state="open",
                            status="under_investigation",
                            discovered_at=report.discovered_at or at,
                            discovery_method=report.method.value,
                            discovery_source=report.source,
                            discovery_detail=report.detail,
                            changed_at=at,
                        )
                        .returning(finding.c.pk)
                    ).scalar_one()
            except IntegrityError:
                raise ConflictError(
                    f"{slug}@{version} already has a finding of {report.vulnerability_id} "
                    f"on {report.component_ref}"
                ) from None
            append_event(
                conn,
                _event(
                    at,
                    actor,
                    "finding.report",
                    "finding",
                    str(pk),
                    after={
                        "release": f"{slug}@{version}",
                        "component_ref": report.component_ref,
                        "vulnerability_id": report.vulnerability_id,
                        "severity": report.severity.value,
                        "discovery": {
                            "method": report.method.value,
                            "source": report.source,
                            "detail": report.detail,
                        },
                    },
                ),
            )
            row = (
                conn.execute(
                    finding_select(FindingQuery(state=None, limit=1)).where(finding.c.pk == pk)
                )
                .mappings()
                .one()
            )
            return finding_view(row)

    # -- installed base, where-used, end of support ----------------------------------

    def import_installed_base(
        self, units: Sequence[InstalledUnit], *, actor: str, at: datetime, source: str
    ) -> dict[str, int]:
        """Record which release each fielded unit runs (REQUIREMENTS 29); all or nothing.

        A unit already known is moved to the reported release; a unit naming an unknown
        product or release fails the whole import, naming every such line."""
        with self._database.write("importing the installed base") as conn:
            releases = _release_pks(conn, {(u.product, u.version) for u in units})
            unknown = sorted(
                {
                    f"{u.product}@{u.version}"
                    for u in units
                    if (u.product, u.version) not in releases
                }
            )
            if unknown:
                raise NotFoundError(
                    f"the installed base names {len(unknown)} unknown release(s)",
                    details=tuple(unknown[:20]),
                    hint="create the releases first (medwarden release add)",
                )
            existing: dict[tuple[int, str], int] = {}
            for chunk in chunked(sorted({u.device_id for u in units})):
                for pk, product_pk, device in conn.execute(
                    select(
                        installed_unit.c.pk, installed_unit.c.product_pk, installed_unit.c.device_id
                    ).where(installed_unit.c.device_id.in_(chunk))
                ):
                    existing[(product_pk, device)] = pk
            new_rows, moved = [], []
            for u in {(u.product, u.device_id): u for u in units}.values():
                product_pk, release_pk = releases[(u.product, u.version)]
                row = {
                    "release_pk": release_pk,
                    "site": u.site,
                    "reported_at": u.reported_at or at,
                    "source": source,
                }
                pk = existing.get((product_pk, u.device_id))
                if pk is None:
                    new_rows.append({"product_pk": product_pk, "device_id": u.device_id, **row})
                else:
                    moved.append({"b_pk": pk, **row})
            bulk_insert(conn, installed_unit, new_rows)
            if moved:
                conn.execute(
                    update(installed_unit).where(installed_unit.c.pk == bindparam("b_pk")), moved
                )
            counts = {
                "units": len(new_rows) + len(moved),
                "new": len(new_rows),
                "updated": len(moved),
            }
            append_event(
                conn,
                _event(
                    at,
                    actor,
                    "portfolio.installed_base_import",
                    "portfolio",
                    "installed_base",
                    after={**counts, "source": source},
                ),
            )
            return counts

    def where_used(
        self, *, purl: str | None = None, name: str | None = None, version: str | None = None
    ) -> list[WhereUsed]:
        """Which releases hold a component (by exact purl, or name and optional version),
        with the number of fielded units running each (REQUIREMENTS 61); one query."""
        c = component.c
        if purl:
            match = c.purl == purl
        elif name:
            match = (
                c.name == name if version is None else and_(c.name == name, c.version == version)
            )
        else:
            raise UsageError("name a component by purl or by name (and version)")
        units = (
            select(func.count())
            .where(installed_unit.c.release_pk == release.c.pk)
            .scalar_subquery()
        )
        query = (
            select(
                product.c.slug,
                release.c.version,
                release.c.state,
                revision_component.c.ref,
                c.name,
                c.version.label("component_version"),
                c.purl,
                units.label("units"),
            )
            .select_from(
                component.join(revision_component, revision_component.c.component_pk == c.pk)
                .join(release, release.c.current_revision_pk == revision_component.c.revision_pk)
                .join(product, product.c.pk == release.c.product_pk)
            )
            .where(match)
            .order_by(product.c.slug, release.c.pk, revision_component.c.ref)
        )
        with self._database.read("finding where a component is used") as conn:
            return [
                WhereUsed(
                    r.slug,
                    r.version,
                    LifecycleState(r.state),
                    r.ref,
                    r.name,
                    r.component_version,
                    r.purl,
                    int(r.units),
                )
                for r in conn.execute(query)
            ]

    def support_records(self, products: frozenset[str] | None = None) -> list[SupportRecord]:
        """Every component with support data in the current SBOM of every release; one query."""
        rc = revision_component.c
        query = (
            select(
                product.c.slug,
                product.c.support_end,
                product.c.eos_horizon_days,
                release.c.version,
                rc.ref,
                component.c.name,
                component.c.version.label("cv"),
                rc.level_of_support,
                rc.end_of_support,
                rc.support_justification,
            )
            .select_from(
                revision_component.join(release, release.c.current_revision_pk == rc.revision_pk)
                .join(product, product.c.pk == release.c.product_pk)
                .join(component, component.c.pk == rc.component_pk)
            )
            .where(
                or_(rc.level_of_support.is_not(None), rc.end_of_support.is_not(None)),
                release.c.state != LifecycleState.END_OF_SUPPORT.value,
            )
            .order_by(product.c.slug, release.c.pk, rc.ref)
        )
        if products is not None:
            query = query.where(product.c.slug.in_(sorted(products)))
        with self._database.read("reading component support data") as conn:
            return [
                SupportRecord(
                    product=r.slug,
                    device_support_end=_day(r.support_end),
                    horizon_days=r.eos_horizon_days,
                    release=r.version,
                    ref=r.ref,
                    name=r.name,
                    version=r.cv,
                    support=ComponentSupport(
                        r.level_of_support,
                        _day(r.end_of_support),
                        r.support_justification or (None if r.end_of_support else "not stated"),
                    ),
                )
                for r in conn.execute(query)
            ]


# -- helpers ------------------------------------------------------------------------------


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _release_pks(
    conn: Connection, wanted: set[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, int]]:
    """(product pk, release pk) of each (slug, version) in ``wanted`` that exists."""
    found: dict[tuple[str, str], tuple[int, int]] = {}
    slugs = sorted({slug for slug, _v in wanted})
    for chunk in chunked(slugs):
        for slug, product_pk, version, release_pk in conn.execute(
            select(product.c.slug, product.c.pk, release.c.version, release.c.pk)
            .join(release, release.c.product_pk == product.c.pk)
            .where(product.c.slug.in_(chunk))
        ):
            if (slug, version) in wanted:
                found[(slug, version)] = (product_pk, release_pk)
    return found


def _is_integrity(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, IntegrityError):
            return True
        cause = cause.__cause__
    return False


def _event(
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> EventDraft:
    return EventDraft(at, actor, action, subject_type, subject_id, before, after, reason)


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
