"""Applying VEX statements to findings: suppress what a statement says is not a risk.

A statement covers a finding when (1) its vulnerability id or one of its aliases is
one of the finding's ids, and (2) one of its products designates the finding's
component within *this* SBOM:

* a product identifier names the component itself: a package URL equal in type,
  namespace and name (version too when the statement's purl has one; the
  statement's qualifiers must be a subset of the component's), a CPE equal to one of
  the component's, its bom-ref, or a BOM-Link ``urn:cdx:serial/version#bom-ref``
  whose serial number is this SBOM's; or
* a product identifier names the SBOM's root (or any component of it) and one of
  the product's subcomponents names the component as above; or
* a product identifier names the SBOM's root and the product lists no
  subcomponents: the statement then speaks of the whole product.

A statement about another product (another serial number, another root) never
suppresses.  Among the statements covering a finding, the most recent wins (ties: the
later one given); only ``not_affected`` and ``fixed`` suppress, and the finding is
kept, marked with a :class:`~medwarden.matching.model.Suppression`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import unquote

from packageurl import PackageURL

from medwarden.matching.model import Finding, Suppression
from medwarden.sbom.model import Component, Sbom
from medwarden.vex.model import ProductRef, VexStatement

__all__ = ["apply_vex", "statement_covers"]

_BOM_LINK = re.compile(r"^urn:cdx:(?P<serial>[^/#]+)/(?P<version>\d+)#(?P<ref>.+)$", re.IGNORECASE)
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Subject:
    """What an identifier can be compared with: a component, or the SBOM itself as root."""

    sbom: Sbom
    component: Component | None
    is_root: bool


def apply_vex(
    findings: Sequence[Finding], sbom: Sbom, statements: Sequence[VexStatement]
) -> tuple[Finding, ...]:
    """Return ``findings`` with ``suppression`` set where a VEX statement says so."""
    scope = _Scope(sbom)
    return tuple(_apply_one(f, scope, statements) for f in findings)


def _apply_one(finding: Finding, scope: _Scope, statements: Sequence[VexStatement]) -> Finding:
    ids = {i.upper() for i in (finding.vulnerability_id, *finding.ids)}
    covering = [
        (s.timestamp or _EPOCH, order, s)
        for order, s in enumerate(statements)
        if ids & s.vulnerability_ids and scope.covers(s, finding.component_ref)
    ]
    if not covering:
        return finding
    decisive = max(covering, key=lambda item: (item[0], item[1]))[2]
    if not decisive.status.suppresses:
        return finding
    suppression = Suppression(
        status=decisive.status.value,
        justification=decisive.justification.value if decisive.justification else None,
        statement=decisive.impact_statement or decisive.detail,
        document=decisive.document,
        vulnerability=decisive.vulnerability,
    )
    return replace(finding, suppression=suppression)


def statement_covers(statement: VexStatement, sbom: Sbom, component_ref: str) -> bool:
    """Whether one of the statement's products designates component ``component_ref``."""
    return _Scope(sbom).covers(statement, component_ref)


class _Scope:
    """One SBOM's components and root, with memoised answers for repeated identifiers."""

    def __init__(self, sbom: Sbom) -> None:
        self.sbom = sbom
        self.by_ref = {c.ref: c for c in sbom.components}
        self.root_ref = sbom.root_ref or ""
        root_component = self.by_ref.get(self.root_ref)
        self.root = _Subject(sbom, root_component, is_root=True)
        self._in_sbom: dict[str, bool] = {}

    def covers(self, statement: VexStatement, component_ref: str) -> bool:
        component = self.by_ref.get(component_ref)
        target = _Subject(self.sbom, component, is_root=component_ref == self.root_ref)
        return any(self._product_covers(p, target, component_ref) for p in statement.products)

    def _product_covers(self, product: ProductRef, target: _Subject, target_ref: str) -> bool:
        if product.subcomponents:
            if not any(self._names_in_sbom(i) for i in product.identifiers):
                return False
            subs = (i for sub in product.subcomponents for i in sub)
            return any(_names(i, target, target_ref, ()) for i in subs)
        if not _ranges_allow(product):
            return False
        if any(_names(i, target, target_ref, product.versions) for i in product.identifiers):
            return True
        return any(
            _names(i, self.root, self.root_ref, product.versions) for i in product.identifiers
        )

    def _names_in_sbom(self, identifier: str) -> bool:
        found = self._in_sbom.get(identifier)
        if found is None:
            found = _names(identifier, self.root, self.root_ref, ()) or any(
                _names(identifier, _Subject(self.sbom, c, False), c.ref, ())
                for c in self.sbom.components
            )
            self._in_sbom[identifier] = found
        return found


def _ranges_allow(product: ProductRef) -> bool:
    """``vers:`` ranges are not evaluated: a product limited only by ranges never matches."""
    return not product.ranges or bool(product.versions)


def _names(identifier: str, target: _Subject, target_ref: str, versions: tuple[str, ...]) -> bool:
    if versions and _version_of(target) not in versions:
        return False
    lowered = identifier.lower()
    component = target.component
    if lowered.startswith("pkg:"):
        return component is not None and _purl_matches(identifier, component.purl)
    if lowered.startswith("cpe:"):
        return component is not None and lowered in {c.lower() for c in component.cpes}
    link = _BOM_LINK.match(identifier)
    if link is not None:
        serial = (target.sbom.serial_number or "").lower().removeprefix("urn:uuid:")
        if not serial or link["serial"].lower() != serial:
            return False
        return bool(target_ref) and target_ref in (link["ref"], unquote(link["ref"]))
    return bool(target_ref) and identifier == target_ref


def _version_of(target: _Subject) -> str | None:
    if target.component is not None:
        return target.component.version
    return target.sbom.version if target.is_root else None


def _purl_matches(statement_purl: str, component_purl: str | None) -> bool:
    if not component_purl:
        return False
    wanted = _parse_purl(statement_purl)
    have = _parse_purl(component_purl)
    if wanted is None or have is None:
        return False
    if (wanted.type, wanted.namespace, wanted.name) != (have.type, have.namespace, have.name):
        return False
    if wanted.version and wanted.version != have.version:
        return False
    if wanted.subpath and wanted.subpath != have.subpath:
        return False
    wanted_q = wanted.qualifiers if isinstance(wanted.qualifiers, dict) else {}
    have_q = have.qualifiers if isinstance(have.qualifiers, dict) else {}
    return all(have_q.get(k) == v for k, v in wanted_q.items())


@lru_cache(maxsize=8192)
def _parse_purl(text: str) -> PackageURL | None:
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None
