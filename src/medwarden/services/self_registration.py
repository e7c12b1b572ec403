"""medwarden's own backend as a product of its portfolio (REQUIREMENTS 63).

FDA's premarket guidance counts manufacturer-controlled servers among a device's
*related systems* (section VII.C.2), and NIS2 asks the same care of the operator's own
systems: medwarden's SBOM, vulnerability monitoring and update cadence are managed in
medwarden like any product.  :func:`register_self` makes sure that

* the product ``medwarden`` exists ("medwarden backend", regulatory class
  ``related system``, monitored on the default daily schedule);
* the release of the installed medwarden version exists (created ``fielded``: it runs);
* that release's current SBOM revision is medwarden's own SBOM of the running
  environment (:func:`medwarden.reports.self_sbom.build_self_sbom`).  The SBOM is
  imported as the next revision only when its *component set* -- the root component,
  the components and their dependencies, see :func:`component_set_digest` -- differs
  from the current revision's, so timestamps never count and re-running changes nothing.

Its serial number is derived from that digest (UUID 5), so the same environment always
yields the same serial.  Every change goes through the ordinary audited store writes.
"""

from __future__ import annotations

import importlib.metadata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson

from medwarden.core.clock import Clock
from medwarden.core.digests import canonical_json, sha256_hex
from medwarden.errors import ConflictError, NotFoundError
from medwarden.matching.base import AdvisoryIndex
from medwarden.portfolio.model import (
    LifecycleState,
    Product,
    ProductSpec,
    Release,
    ReleaseSpec,
    RevisionInfo,
)
from medwarden.reports.self_sbom import DistributionLookup, build_self_sbom, render_self_sbom
from medwarden.services.portfolio import ImportOutcome, PortfolioStore, import_sbom

__all__ = [
    "RELATED_SYSTEM",
    "SELF_NAME",
    "SELF_SLUG",
    "SelfRegistration",
    "SelfStore",
    "component_set_digest",
    "register_self",
]

SELF_SLUG = "medwarden"
"""The product id of medwarden's own backend."""

SELF_NAME = "medwarden backend"
"""Its product name."""

RELATED_SYSTEM = "related system"
"""Its regulatory class: not a device, a system related to devices (FDA VII.C.2)."""

_SERIAL_NAMESPACE = uuid.uuid5(
    uuid.NAMESPACE_URL, "https://github.com/medwarden/medwarden#self-sbom"
)
_SOURCE = "medwarden sbom self"


class SelfStore(PortfolioStore, Protocol):
    """What self-registration needs of the portfolio store (``SqlPortfolio`` has it all)."""

    def product(self, slug: str) -> Product:
        """The product ``slug``; NotFoundError when there is none."""
        ...

    def create_product(self, spec: ProductSpec, *, actor: str, at: datetime) -> Product:
        """Store a new product (audited)."""
        ...

    def release(self, slug: str, version: str) -> Release:
        """One release; NotFoundError when there is none."""
        ...

    def create_release(self, slug: str, spec: ReleaseSpec, *, actor: str, at: datetime) -> Release:
        """Store a new release (audited)."""
        ...

    def revision_document(
        self, slug: str, version: str, number: int | None = None
    ) -> tuple[RevisionInfo, bytes]:
        """A revision's document as imported (the current one by default)."""
        ...


@dataclass(frozen=True, slots=True)
class SelfRegistration:
    """What :func:`register_self` found and did."""

    product: Product
    version: str
    product_created: bool
    release_created: bool
    component_digest: str
    revision: int
    imported: ImportOutcome | None = None

    @property
    def changed(self) -> bool:
        """Whether anything was created or imported."""
        return self.product_created or self.release_created or self.imported is not None


def component_set_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 of a CycloneDX JSON document's root component, components and dependencies
    (canonical JSON): what the SBOM says, not when or under which serial it said it."""
    metadata = document.get("metadata")
    root = metadata.get("component") if isinstance(metadata, Mapping) else None
    content = {
        "root": root,
        "components": document.get("components") or [],
        "dependencies": document.get("dependencies") or [],
    }
    return sha256_hex(canonical_json(content))


def _stored_digest(store: SelfStore, version: str) -> tuple[int, str | None]:
    """The current revision's number and component-set digest (0, None: no SBOM yet)."""
    try:
        info, data = store.revision_document(SELF_SLUG, version)
    except NotFoundError:
        return 0, None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return info.number, None
    return info.number, component_set_digest(document) if isinstance(document, dict) else None


def _ensure_product(store: SelfStore, *, actor: str, clock: Clock) -> tuple[Product, bool]:
    try:
        return store.product(SELF_SLUG), False
    except NotFoundError:
        pass
    spec = ProductSpec(slug=SELF_SLUG, name=SELF_NAME, regulatory_class=RELATED_SYSTEM)
    try:
        return store.create_product(spec, actor=actor, at=clock.now()), True
    except ConflictError:  # registered concurrently
        return store.product(SELF_SLUG), False


def _ensure_release(store: SelfStore, version: str, *, actor: str, clock: Clock) -> bool:
    try:
        store.release(SELF_SLUG, version)
        return False
    except NotFoundError:
        pass
    spec = ReleaseSpec(version, LifecycleState.FIELDED)
    try:
        store.create_release(SELF_SLUG, spec, actor=actor, at=clock.now())
    except ConflictError:
        return False
    return True


def register_self(
    store: SelfStore,
    index: AdvisoryIndex,
    *,
    actor: str,
    clock: Clock,
    version: str | None = None,
    distribution: DistributionLookup = importlib.metadata.distribution,
) -> SelfRegistration:
    """Register medwarden's backend as a product and import its SBOM if it changed.

    ``version`` names the release (default: the installed medwarden version);
    ``distribution`` looks installed distributions up (tests pass fakes)."""
    document = build_self_sbom(  # the serial is replaced below, once the digest is known
        SELF_SLUG, now=clock.now(), serial=_SERIAL_NAMESPACE, distribution=distribution
    )
    digest = component_set_digest(document)
    document["serialNumber"] = uuid.uuid5(_SERIAL_NAMESPACE, digest).urn
    version = version or str(document["metadata"]["component"].get("version") or "unknown")
    product, product_created = _ensure_product(store, actor=actor, clock=clock)
    release_created = _ensure_release(store, version, actor=actor, clock=clock)
    number, stored = _stored_digest(store, version)
    imported = None
    if stored != digest:
        data = render_self_sbom(document).encode()
        imported = import_sbom(
            store, index, SELF_SLUG, version, data, actor=actor, clock=clock, source=_SOURCE
        )
        number = imported.result.revision
    return SelfRegistration(
        product=product,
        version=version,
        product_created=product_created,
        release_created=release_created,
        component_digest=digest,
        revision=number,
        imported=imported,
    )
