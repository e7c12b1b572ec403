"""The match cache of component identities: storing identities, their matches, and
finding the identities a change of intelligence may affect (set-based, chunked)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    select,
    update,
)

from medwarden.portfolio.identity import ComponentIdentity
from medwarden.services.ports import Evaluation, StoredComponent
from medwarden.store._batching import chunked
from medwarden.store._bulk import bulk_insert
from medwarden.store._writes import allocate_pks
from medwarden.store.schema import advisory, advisory_cpe, advisory_package
from medwarden.store.schema_portfolio import (
    component,
    component_cpe,
    component_match,
    component_match_id,
)

if TYPE_CHECKING:
    pass

__all__ = ["affected_components", "components", "ensure_identities", "write_evaluations"]


def ensure_identities(
    conn: Connection, identities: Mapping[str, ComponentIdentity]
) -> tuple[dict[str, int], int]:
    """Primary keys of every identity, inserting the missing ones; (pks, how many new)."""
    pks: dict[str, int] = {}
    for chunk in chunked(sorted(identities)):
        pks.update(
            conn.execute(
                select(component.c.identity, component.c.pk).where(component.c.identity.in_(chunk))
            ).all()
        )
    missing = [identities[d] for d in sorted(identities) if d not in pks]
    if missing:
        new_pks = allocate_pks(conn, component, len(missing))
        rows = []
        cpe_rows: list[dict[str, Any]] = []
        for pk, ident in zip(new_pks, missing, strict=True):
            family, name = ident.package_key or (None, None)
            rows.append(
                {
                    "pk": pk,
                    "identity": ident.digest,
                    "name": ident.name,
                    "version": ident.version,
                    "group_name": ident.group,
                    "purl": ident.purl,
                    "family": family,
                    "package_name": name,
                    "cpes_json": orjson.dumps(list(ident.cpes)).decode(),
                    "skipped_json": None,
                    "evaluated_at": None,
                }
            )
            cpe_rows.extend(
                {"component_pk": pk, "vendor": v, "product": p} for v, p in sorted(ident.cpe_keys)
            )
            pks[ident.digest] = pk
        bulk_insert(conn, component, rows)
        bulk_insert(conn, component_cpe, cpe_rows)
    return pks, len(missing)


def write_evaluations(
    conn: Connection, evaluations: Mapping[int, Evaluation], at: datetime, *, only_new: bool
) -> int:
    """Replace the cached matches of the identities in ``evaluations``; return how many.

    With ``only_new`` identities another writer evaluated meanwhile keep their matches."""
    pks = sorted(evaluations)
    if only_new and pks:
        done: set[int] = set()
        for chunk in chunked(pks):
            done.update(
                conn.execute(
                    select(component.c.pk).where(
                        component.c.pk.in_(chunk), component.c.evaluated_at.is_not(None)
                    )
                ).scalars()
            )
        pks = [pk for pk in pks if pk not in done]
    if not pks:
        return 0
    for chunk in chunked(pks):
        conn.execute(delete(component_match_id).where(component_match_id.c.component_pk.in_(chunk)))
        conn.execute(delete(component_match).where(component_match.c.component_pk.in_(chunk)))
    matches: list[dict[str, Any]] = []
    ids: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    for pk in pks:
        evaluation = evaluations[pk]
        states.append(
            {
                "b_pk": pk,
                "skipped_json": orjson.dumps(list(evaluation.skipped)).decode()
                if evaluation.skipped
                else None,
                "evaluated_at": at,
            }
        )
        for m in evaluation.matches:
            matches.append(
                {
                    "component_pk": pk,
                    "vulnerability_id": m.vulnerability_id,
                    "cve_id": m.cve_id,
                    "severity": m.severity.value,
                    "severity_rank": m.severity.rank,
                    "discovery_source": m.discovery_source,
                    "digest": m.digest,
                    "payload": m.payload,
                }
            )
            ids.extend(
                {"component_pk": pk, "vulnerability_id": m.vulnerability_id, "record_id": i}
                for i in sorted(set(m.ids))
            )
    bulk_insert(conn, component_match, matches)
    bulk_insert(conn, component_match_id, ids)
    conn.execute(update(component).where(component.c.pk == bindparam("b_pk")), states)
    return len(pks)


def affected_components(conn: Connection, cursor: int, top: int) -> set[int]:
    """Identities holding a key of an advisory changed in (cursor, top], or a cached match
    naming one of those advisories' ids; three set-based queries."""
    changed = and_(advisory.c.change_seq > cursor, advisory.c.change_seq <= top)
    by_package = (
        select(component.c.pk)
        .join(
            advisory_package,
            and_(
                advisory_package.c.family == component.c.family,
                advisory_package.c.name == component.c.package_name,
            ),
        )
        .join(advisory, advisory.c.pk == advisory_package.c.advisory_pk)
        .where(changed)
    )
    by_cpe = (
        select(component_cpe.c.component_pk)
        .join(
            advisory_cpe,
            and_(
                advisory_cpe.c.vendor == component_cpe.c.vendor,
                advisory_cpe.c.product == component_cpe.c.product,
            ),
        )
        .join(advisory, advisory.c.pk == advisory_cpe.c.advisory_pk)
        .where(changed, advisory_cpe.c.platform.is_(False))
    )
    by_record = (
        select(component_match_id.c.component_pk)
        .join(advisory, advisory.c.record_id == component_match_id.c.record_id)
        .where(changed)
    )
    found: set[int] = set()
    for query in (by_package, by_cpe, by_record):
        found.update(conn.execute(query.distinct()).scalars())
    return found


def components(conn: Connection, pks: set[int]) -> tuple[StoredComponent, ...]:
    out: list[StoredComponent] = []
    cols = (
        component.c.pk,
        component.c.name,
        component.c.version,
        component.c.group_name,
        component.c.purl,
        component.c.cpes_json,
    )
    for chunk in chunked(sorted(pks)):
        for pk, name, version, group, purl, cpes in conn.execute(
            select(*cols).where(component.c.pk.in_(chunk))
        ):
            out.append(StoredComponent(pk, name, version, group, purl, tuple(orjson.loads(cpes))))
    return tuple(out)
