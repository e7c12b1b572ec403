"""Portfolio rows inserted directly with SQLAlchemy Core, for triage and policy tests.

Products, releases, component identities, findings, KEV entries and alias rows, with
just the columns the tables require; the portfolio service normally writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Integer, LargeBinary, Table, func, insert, select

from medwarden.store import SqlStore
from medwarden.store.schema import audit_event, kev
from medwarden.store.schema_portfolio import (
    component,
    component_match_id,
    decision,
    finding,
    policy,
    policy_application,
    product,
    release,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def _complete(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` plus a neutral value for every other required column (the schema grows)."""
    out = dict(values)
    for column in table.columns:
        if column.name in out or column.nullable or column.primary_key:
            continue
        if column.default is not None or column.server_default is not None:
            continue
        kind = column.type
        if isinstance(kind, Boolean):
            out[column.name] = False
        elif isinstance(kind, Integer):
            out[column.name] = 0
        elif isinstance(kind, DateTime) or getattr(kind, "impl", None) is not None:
            out[column.name] = T0
        elif isinstance(kind, Date):
            out[column.name] = T0.date()
        elif isinstance(kind, LargeBinary):
            out[column.name] = b""
        else:
            out[column.name] = ""
    return out


def add_product(store: SqlStore, slug: str) -> int:
    """A product named ``slug``."""
    values = {
        "slug": slug,
        "name": slug.title(),
        "markets_json": "[]",
        "monitoring_interval_s": 86_400,
        "eos_horizon_days": 365,
        "created_at": T0,
    }
    with store.database.engine.begin() as conn:
        stmt = insert(product).values(_complete(product, values)).returning(product.c.pk)
        return int(conn.execute(stmt).scalar_one())


def add_release(store: SqlStore, product_pk: int, version: str) -> int:
    """A fielded release ``version`` of the product."""
    values = {
        "product_pk": product_pk,
        "version": version,
        "state": "fielded",
        "created_at": T0,
    }
    with store.database.engine.begin() as conn:
        stmt = insert(release).values(_complete(release, values)).returning(release.c.pk)
        return int(conn.execute(stmt).scalar_one())


def add_component(
    store: SqlStore,
    name: str,
    version: str | None,
    *,
    family: str | None = "npm",
    package_name: str | None = None,
) -> int:
    """A component identity (``package_name`` defaults to ``name`` when there is a family)."""
    if family is not None and package_name is None:
        package_name = name
    purl = f"pkg:{family.lower()}/{name}@{version}" if family else None
    values = {
        "identity": f"{family}|{name}|{version}",
        "name": name,
        "version": version,
        "purl": purl,
        "family": family,
        "package_name": package_name,
        "cpes_json": "[]",
    }
    with store.database.engine.begin() as conn:
        stmt = insert(component).values(_complete(component, values)).returning(component.c.pk)
        return int(conn.execute(stmt).scalar_one())


def finding_values(
    product_pk: int,
    release_pk: int,
    component_pk: int,
    vulnerability_id: str,
    cve_id: str | None,
    state: str,
) -> dict[str, Any]:
    """The column values of an open, undecided finding (every required column filled)."""
    return _complete(
        finding,
        {
            "product_pk": product_pk,
            "release_pk": release_pk,
            "component_pk": component_pk,
            "vulnerability_id": vulnerability_id,
            "cve_id": cve_id,
            "severity": "high",
            "severity_rank": 3,
            "state": state,
            "status": "under_investigation",
            "decision_pk": None,
            "discovered_at": T0,
            "discovery_method": "feed",
            "discovery_source": "osv",
            "changed_at": T0,
        },
    )


def add_finding(
    store: SqlStore,
    release_pk: int,
    component_pk: int,
    vulnerability_id: str,
    *,
    cve_id: str | None = None,
    state: str = "open",
) -> int:
    """An open, undecided finding of ``vulnerability_id`` on a component of a release."""
    with store.database.engine.begin() as conn:
        product_pk = conn.execute(
            select(release.c.product_pk).where(release.c.pk == release_pk)
        ).scalar_one()
        values = finding_values(
            product_pk, release_pk, component_pk, vulnerability_id, cve_id, state
        )
        stmt = insert(finding).values(_complete(finding, values)).returning(finding.c.pk)
        return int(conn.execute(stmt).scalar_one())


def add_findings(
    store: SqlStore,
    product_pk: int,
    release_pks: Sequence[int],
    component_pk: int,
    vulnerability_id: str,
    *,
    cve_id: str | None = None,
) -> list[int]:
    """One open finding per release (one ``executemany``); return their keys in order."""
    rows = [
        _complete(
            finding, finding_values(product_pk, r, component_pk, vulnerability_id, cve_id, "open")
        )
        for r in release_pks
    ]
    with store.database.engine.begin() as conn:
        conn.execute(insert(finding), rows)
        found = conn.execute(
            select(finding.c.release_pk, finding.c.pk).where(
                finding.c.component_pk == component_pk,
                finding.c.vulnerability_id == vulnerability_id,
            )
        ).all()
    by_release = {int(r): int(pk) for r, pk in found}
    return [by_release[r] for r in release_pks]


def add_releases(store: SqlStore, product_pk: int, versions: Sequence[str]) -> list[int]:
    """Many releases of a product (one ``executemany``); return their keys in order."""
    rows = [
        _complete(
            release, {"product_pk": product_pk, "version": v, "state": "fielded", "created_at": T0}
        )
        for v in versions
    ]
    with store.database.engine.begin() as conn:
        conn.execute(insert(release), rows)
        found = conn.execute(
            select(release.c.version, release.c.pk).where(release.c.product_pk == product_pk)
        ).all()
    by_version = {str(v): int(pk) for v, pk in found}
    return [by_version[v] for v in versions]


def add_kev(store: SqlStore, cve_id: str) -> None:
    """List ``cve_id`` in the KEV catalog."""
    values = {
        "cve_id": cve_id,
        "vendor": "acme",
        "product": "pump",
        "name": f"{cve_id} exploited",
        "date_added": T0,
    }
    with store.database.engine.begin() as conn:
        conn.execute(insert(kev).values(_complete(kev, values)))


def add_aliases(
    store: SqlStore, component_pk: int, vulnerability_id: str, record_ids: Sequence[str]
) -> None:
    """Record the ids behind a cached match (what alias lookups read)."""
    rows = [
        {"component_pk": component_pk, "vulnerability_id": vulnerability_id, "record_id": r}
        for r in record_ids
    ]
    with store.database.engine.begin() as conn:
        conn.execute(insert(component_match_id), rows)


def finding_state(store: SqlStore, finding_pk: int) -> dict[str, Any]:
    """The finding's row as stored."""
    with store.database.engine.connect() as conn:
        row = conn.execute(select(finding).where(finding.c.pk == finding_pk)).mappings().one()
    return dict(row)


def status_of(store: SqlStore, finding_pk: int) -> str:
    """The finding's triage status."""
    return str(finding_state(store, finding_pk)["status"])


def count_rows(store: SqlStore, table_name: str) -> int:
    """Rows in one of the triage tables (or the audit trail)."""
    table = {
        "decision": decision,
        "policy": policy,
        "policy_application": policy_application,
        "audit_event": audit_event,
    }[table_name]
    with store.database.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
