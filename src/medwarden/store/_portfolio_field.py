"""Field data of the portfolio: the installed base, where a component is used, and the
support records of fielded components (REQUIREMENTS 3, 4, 29, 61)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)

from medwarden.errors import NotFoundError, UsageError
from medwarden.portfolio.installed import InstalledUnit, SupportRecord, WhereUsed
from medwarden.portfolio.model import (
    LifecycleState,
)
from medwarden.store._batching import chunked
from medwarden.store._bulk import bulk_insert
from medwarden.store._portfolio_rows import (
    event_draft,
    parse_date,
)
from medwarden.store._release_lookup import stored_support
from medwarden.store.audit_repository import append_event
from medwarden.store.schema_portfolio import (
    component,
    installed_unit,
    product,
    release,
    revision_component,
)

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["FieldData"]


class FieldData:
    """The field-data queries of :class:`~medwarden.store.portfolio_repository.SqlPortfolio`."""

    _database: Database

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
                event_draft(
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
            rows = [
                (r, stored_support(r.level_of_support, r.end_of_support, r.support_justification))
                for r in conn.execute(query)
            ]
            return [
                SupportRecord(
                    product=r.slug,
                    device_support_end=parse_date(r.support_end),
                    horizon_days=r.eos_horizon_days,
                    release=r.version,
                    ref=r.ref,
                    name=r.name,
                    version=r.cv,
                    support=support,
                )
                for r, support in rows
                if support is not None  # the query selects rows with support data only
            ]


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
