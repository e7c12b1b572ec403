"""Component identities: what makes two SBOM components "the same" across releases.

The portfolio stores each distinct component once, keyed by a digest of the fields
matching depends on (name, group, version, package URL, CPEs), so a component held by
many releases is matched once and re-matched once when its intelligence changes.
Fields that do not change what it matches (the document-local ref, supplier, hashes,
support data) are per-revision data, not part of the identity.
"""

from __future__ import annotations

from dataclasses import dataclass

from medwarden.core.digests import canonical_json, sha256_hex
from medwarden.matching.model import SkippedComponent
from medwarden.matching.targets import plan_component
from medwarden.sbom.model import Component

__all__ = ["ComponentIdentity", "identify"]


@dataclass(frozen=True, slots=True)
class ComponentIdentity:
    """A component as matching sees it, with the keys re-evaluation looks it up by.

    ``package_key`` is the (ecosystem family, canonical name) its purl matches under
    (None when it has no usable purl or version); ``cpe_keys`` are the (vendor,
    product) pairs of its usable CPEs; ``skipped`` says why it cannot be (fully)
    analysed whatever the intelligence (malformed purl, no version, ...).
    """

    digest: str
    name: str
    version: str | None
    group: str | None
    purl: str | None
    cpes: tuple[str, ...]
    package_key: tuple[str, str] | None
    cpe_keys: frozenset[tuple[str, str]]
    skipped: tuple[SkippedComponent, ...] = ()

    def as_component(self, ref: str) -> Component:
        """The identity as an SBOM component named ``ref`` (for the matching engine)."""
        return Component(
            ref=ref,
            name=self.name,
            version=self.version,
            group=self.group,
            purl=self.purl,
            cpes=self.cpes,
        )


def identify(component: Component) -> ComponentIdentity:
    """Return the identity of ``component`` and its matching keys."""
    cpes = tuple(sorted(set(component.cpes)))
    digest = sha256_hex(
        canonical_json(
            {
                "name": component.name,
                "group": component.group,
                "version": component.version,
                "purl": component.purl,
                "cpes": list(cpes),
            }
        )
    )
    plan, skipped = plan_component(component)
    key = plan.package_key
    return ComponentIdentity(
        digest=digest,
        name=component.name,
        version=component.version,
        group=component.group,
        purl=component.purl,
        cpes=cpes,
        package_key=(key.ecosystem, key.name) if key is not None else None,
        cpe_keys=frozenset(t.cpe.key for t in plan.cpe_targets),
        skipped=tuple(skipped),
    )
