"""Triage rows to and from domain values, and the small statements every triage write shares."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, Select, bindparam, insert, select, text, update

from medwarden.core.clock import ensure_utc
from medwarden.store._batching import chunked, unique
from medwarden.store._writes import allocate_pks
from medwarden.store.audit_repository import _PG_AUDIT_LOCK
from medwarden.store.schema import kev
from medwarden.store.schema_portfolio import (
    decision,
    finding,
    policy,
    product,
)
from medwarden.vex.carryover import (
    CarryOverPolicy,
    PolicyApplication,
    PolicyMode,
)
from medwarden.vex.triage import (
    DecisionRecord,
    TriageDecision,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "DECISION_FIELDS",
    "UNDER_INVESTIGATION",
    "Values",
    "application_of",
    "cve_ids",
    "decision_of",
    "decision_values",
    "id_variants",
    "insert_decisions",
    "kev_listed",
    "lock_triage",
    "point_findings",
    "policy_audit",
    "policy_columns",
    "policy_of",
    "record_of",
]

Values = dict[str, Any]
DECISION_FIELDS = (
    "status",
    "justification",
    "responses_json",
    "detail",
    "impact_statement",
    "applicability",
    "verifiability",
    "related_threats",
    "assessment",
    "approver",
    "expires_at",
)
UNDER_INVESTIGATION = "under_investigation"


def decision_values(
    finding_pk: int,
    chosen: TriageDecision,
    *,
    actor: str,
    at: datetime,
    policy_pk: int | None = None,
    reverts_pk: int | None = None,
) -> Values:
    return {
        "finding_pk": finding_pk,
        "status": chosen.status.value,
        "justification": None if chosen.justification is None else chosen.justification.value,
        "responses_json": orjson.dumps([r.value for r in chosen.responses]).decode(),
        "detail": chosen.detail,
        "impact_statement": chosen.impact_statement,
        "applicability": chosen.applicability,
        "verifiability": chosen.verifiability,
        "related_threats": chosen.related_threats,
        "assessment": chosen.assessment,
        "approver": chosen.approver,
        "expires_at": chosen.expires_at,
        "actor": actor,
        "at": at,
        "policy_pk": policy_pk,
        "reverts_pk": reverts_pk,
    }


def decision_of(row: Mapping[Any, Any]) -> TriageDecision:
    return TriageDecision(
        status=row["status"],
        justification=row["justification"],
        responses=tuple(orjson.loads(row["responses_json"] or "[]")),
        detail=row["detail"],
        impact_statement=row["impact_statement"],
        applicability=row["applicability"],
        verifiability=row["verifiability"],
        related_threats=row["related_threats"],
        assessment=row["assessment"],
        approver=row["approver"],
        expires_at=row["expires_at"],
    )


def record_of(row: Mapping[Any, Any]) -> DecisionRecord:
    return DecisionRecord(
        pk=int(row["pk"]),
        finding_pk=int(row["finding_pk"]),
        decision=decision_of(row),
        actor=row["actor"],
        at=ensure_utc(row["at"]),
        policy_pk=row["policy_pk"],
        reverts_pk=row["reverts_pk"],
    )


def policy_columns() -> Select[Any]:
    return select(policy, product.c.slug.label("product_slug")).outerjoin(
        product, product.c.pk == policy.c.product_pk
    )


def policy_of(row: Mapping[Any, Any]) -> CarryOverPolicy:
    return CarryOverPolicy(
        name=row["name"],
        vulnerability_id=row["vulnerability_id"],
        family=row["family"],
        package_name=row["package_name"],
        decision=TriageDecision.from_dict(orjson.loads(row["decision_json"])),
        component_version=row["component_version"],
        version_range=row["version_range"],
        product=row["product_slug"],
        priority=int(row["priority"]),
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        mode=PolicyMode(row["mode"]),
        enabled=bool(row["enabled"]),
        pk=int(row["pk"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
    )


def policy_audit(stored: CarryOverPolicy) -> Values:
    return {
        "name": stored.name,
        "vulnerability_id": stored.vulnerability_id,
        "family": stored.family,
        "package_name": stored.package_name,
        "component_version": stored.component_version,
        "version_range": stored.version_range,
        "product": stored.product,
        "priority": stored.priority,
        "valid_from": None if stored.valid_from is None else stored.valid_from.isoformat(),
        "valid_until": None if stored.valid_until is None else stored.valid_until.isoformat(),
        "mode": stored.mode.value,
        "enabled": stored.enabled,
        "decision": stored.decision.as_dict(),
    }


def application_of(row: Mapping[Any, Any]) -> PolicyApplication:
    return PolicyApplication(
        pk=int(row["pk"]),
        policy_pk=int(row["policy_pk"]),
        finding_pk=int(row["finding_pk"]),
        mode=PolicyMode(row["mode"]),
        applied_at=ensure_utc(row["applied_at"]),
        decision_pk=row["decision_pk"],
        reverted_at=None if row["reverted_at"] is None else ensure_utc(row["reverted_at"]),
        revert_decision_pk=row["revert_decision_pk"],
    )


def id_variants(ids: Iterable[str]) -> list[str]:
    """The spellings an id may be stored under, for index-friendly case-insensitive lookups.

    ``CVE-...``/``GO-...`` are upper case, ``GHSA-xxxx-...`` has an upper-case prefix and a
    lower-case rest; the given spelling is kept too.  Exact case-insensitive comparison
    happens afterwards in Python."""
    out: list[str] = []
    for raw in ids:
        value = raw.strip()
        prefix, dash, rest = value.partition("-")
        out.extend((value, value.upper(), value.lower(), prefix.upper() + dash + rest.lower()))
    return unique(out)


def cve_ids(vulnerability_id: str, cve_id: str | None) -> set[str]:
    ids = {cve_id.upper()} if cve_id else set()
    if vulnerability_id.upper().startswith("CVE-"):
        ids.add(vulnerability_id.upper())
    return ids


def kev_listed(conn: Connection, cve_ids: Iterable[str]) -> set[str]:
    """Those of ``cve_ids`` (upper case) that are in the KEV catalog; one SELECT per chunk."""
    found: set[str] = set()
    for chunk in chunked(unique(cve_ids)):
        found.update(conn.execute(select(kev.c.cve_id).where(kev.c.cve_id.in_(chunk))).scalars())
    return {i.upper() for i in found}


def insert_decisions(conn: Connection, rows: list[Values]) -> list[int]:
    """Insert decision rows in order (keys increase with it); return their keys."""
    pks = allocate_pks(conn, decision, len(rows)) if rows else []
    if rows:
        conn.execute(
            insert(decision), [{"pk": pk, **row} for pk, row in zip(pks, rows, strict=True)]
        )
    return pks


def point_findings(conn: Connection, changes: list[Values]) -> None:
    """Point findings at new current decisions: ``b_pk``, ``decision_pk``, ``status``, time."""
    if changes:
        conn.execute(update(finding).where(finding.c.pk == bindparam("b_pk")), changes)


# -- loading what carry-over needs ----------------------------------------------------------


def lock_triage(conn: Connection) -> None:
    """Serialise triage writers with each other and with audit appends (PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_AUDIT_LOCK})
