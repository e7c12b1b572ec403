"""What of a component can be matched: its package key and version, its CPE names.

Rules:

* a purl of a language ecosystem with OSV/GitHub coverage (npm, PyPI, Maven, Go, NuGet,
  RubyGems, crates.io, Packagist, Hex, Pub) or of a distribution (deb, apk, rpm) is
  matched by purl only: CPE data for those packages is less precise than the
  ecosystem's own advisories;
* any other purl (bitnami, conan, generic...), an unknown purl type, or no purl at all:
  the component's CPE names are used too;
* a component with nothing usable is reported with a :class:`SkipReason`, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from packageurl import PackageURL

from medwarden.core.cpe import ANY, NA, CpeError, parse_cpe
from medwarden.core.ecosystems import PackageKey, PurlError, package_key_for_purl
from medwarden.matching.cpe_configurations import CpeTarget
from medwarden.matching.model import SkippedComponent, SkipReason
from medwarden.sbom.model import Component

__all__ = ["PURL_ONLY_ECOSYSTEMS", "ComponentTargets", "plan_component"]

PURL_ONLY_ECOSYSTEMS = frozenset(
    {"npm", "PyPI", "Maven", "Go", "NuGet", "RubyGems", "crates.io", "Packagist", "Hex", "Pub"}
)
"""Language ecosystems whose components are matched by purl only."""

_DISTRO_PURL_TYPES = frozenset({"deb", "apk", "rpm"})


@dataclass(frozen=True, slots=True)
class ComponentTargets:
    """A component's usable identifiers: package key and version, CPE targets."""

    component: Component
    package_key: PackageKey | None = None
    package_version: str | None = None
    cpe_targets: tuple[CpeTarget, ...] = ()


def _skip(component: Component, reason: SkipReason, detail: str) -> SkippedComponent:
    return SkippedComponent(component.ref, reason, detail)


def _purl_version(parsed: PackageURL, component: Component) -> str | None:
    version = parsed.version or component.version
    qualifiers = parsed.qualifiers if isinstance(parsed.qualifiers, dict) else {}
    epoch = qualifiers.get("epoch")
    if version and epoch and ":" not in version:
        version = f"{epoch}:{version}"
    return version or None


def _plan_purl(
    component: Component, skips: list[SkippedComponent]
) -> tuple[PackageKey | None, str | None, bool]:
    """Return (package key, version, whether CPEs are used as well)."""
    if not component.purl:
        return None, None, True
    try:
        parsed = PackageURL.from_string(component.purl)
    except ValueError as exc:
        skips.append(_skip(component, SkipReason.MALFORMED_PURL, f"{component.purl}: {exc}"))
        return None, None, True
    try:
        key = package_key_for_purl(parsed)
    except PurlError:
        return None, None, True
    purl_only = key.ecosystem in PURL_ONLY_ECOSYSTEMS or key.purl_type in _DISTRO_PURL_TYPES
    return key, _purl_version(parsed, component), not purl_only


def _plan_cpes(component: Component, skips: list[SkippedComponent]) -> list[CpeTarget]:
    targets = []
    for text in component.cpes:
        try:
            cpe = parse_cpe(text)
        except CpeError as exc:
            skips.append(_skip(component, SkipReason.MALFORMED_CPE, str(exc)))
            continue
        if ANY in (cpe.vendor, cpe.product) or NA in (cpe.vendor, cpe.product):
            continue
        version = component.version if cpe.version == ANY else cpe.version
        targets.append(CpeTarget(text, cpe, version))
    return targets


def _why_nothing(component: Component, unknown_purl: bool) -> SkippedComponent:
    if unknown_purl:
        detail = f"purl type of {component.purl} has no vulnerability ecosystem and no CPE"
        return _skip(component, SkipReason.UNKNOWN_ECOSYSTEM, detail)
    detail = "no package URL and no CPE with a concrete vendor and product"
    return _skip(component, SkipReason.NO_IDENTIFIER, detail)


def plan_component(component: Component) -> tuple[ComponentTargets, list[SkippedComponent]]:
    """Work out what of ``component`` can be matched, and why the rest cannot."""
    skips: list[SkippedComponent] = []
    key, version, use_cpes = _plan_purl(component, skips)
    targets = _plan_cpes(component, skips) if use_cpes else []
    if key is None and not targets and not skips:
        skips.append(_why_nothing(component, unknown_purl=bool(component.purl)))
    no_version = [t.text for t in targets if t.version is None]
    if (key is not None and not version) or no_version:
        detail = "the component has no version" + (
            f" ({', '.join(no_version)})" if no_version else ""
        )
        skips.append(_skip(component, SkipReason.NO_VERSION, detail))
    plan = ComponentTargets(
        component,
        key if version else None,
        version,
        tuple(t for t in targets if t.version is not None),
    )
    return plan, skips
