"""Package ecosystems: from a Package URL to the (ecosystem, name) key advisories use.

OSV advisories name packages by ecosystem (``npm``, ``PyPI``, ``Maven``, ``Debian:9``...)
and by each ecosystem's own spelling of the name (``group:artifact`` for Maven,
``@scope/name`` for npm, the full module path for Go).  SBOMs name them with Package
URLs.  This module is the one place where the two meet.

Distribution ecosystems (Debian, Ubuntu, Alpine, Red Hat...) carry a *release* in
the advisory's ecosystem (``Debian:9``, ``Alpine:v3.17``); a component's release comes
from its purl ``distro`` qualifier.  The index key uses the family only
(``Debian``); the release must agree at match time.

References: https://ossf.github.io/osv-schema/#affectedpackage-field and
https://github.com/package-url/purl-spec/blob/master/PURL-TYPES.rst
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packageurl import PackageURL

__all__ = [
    "PackageKey",
    "PurlError",
    "normalize_name",
    "package_key_for_purl",
    "purl_type_for_ecosystem",
    "split_ecosystem",
]

# purl type -> OSV ecosystem family, for language ecosystems.
_LANGUAGE_ECOSYSTEMS: dict[str, str] = {
    "npm": "npm",
    "pypi": "PyPI",
    "maven": "Maven",
    "golang": "Go",
    "nuget": "NuGet",
    "gem": "RubyGems",
    "cargo": "crates.io",
    "composer": "Packagist",
    "hex": "Hex",
    "pub": "Pub",
    "hackage": "Hackage",
    "cran": "CRAN",
    "swift": "SwiftURL",
    "bitnami": "Bitnami",
    "github": "GitHub Actions",
    "conan": "ConanCenter",
}

# (purl type, purl namespace) -> OSV ecosystem family, for distributions.
_DISTRO_ECOSYSTEMS: dict[tuple[str, str], str] = {
    ("deb", "debian"): "Debian",
    ("deb", "ubuntu"): "Ubuntu",
    ("apk", "alpine"): "Alpine",
    ("apk", "wolfi"): "Wolfi",
    ("apk", "chainguard"): "Chainguard",
    ("rpm", "redhat"): "Red Hat",
    ("rpm", "rocky"): "Rocky Linux",
    ("rpm", "almalinux"): "AlmaLinux",
    ("rpm", "opensuse"): "openSUSE",
    ("rpm", "suse"): "SUSE",
    ("rpm", "mageia"): "Mageia",
}

# OSV ecosystem family -> purl type: used to pick a version ordering for an advisory.
_PURL_TYPE_BY_ECOSYSTEM: dict[str, str] = {
    **{eco: ptype for ptype, eco in _LANGUAGE_ECOSYSTEMS.items()},
    **{eco: ptype for (ptype, _ns), eco in _DISTRO_ECOSYSTEMS.items()},
}

_PEP503 = re.compile(r"[-_.]+")


class PurlError(ValueError):
    """A Package URL cannot be parsed or has no ecosystem medwarden knows."""


@dataclass(frozen=True, slots=True)
class PackageKey:
    """How advisories name a package: ecosystem family, release and canonical name.

    ``release`` is empty for language ecosystems; for distributions it is the release
    as OSV writes it after the colon (``9``, ``v3.17``, ``20.04``) or empty when the
    SBOM does not say.
    """

    ecosystem: str
    name: str
    release: str = ""
    purl_type: str = ""

    @property
    def osv_ecosystem(self) -> str:
        """The full OSV ecosystem string, ``Debian:9`` or ``npm``."""
        return f"{self.ecosystem}:{self.release}" if self.release else self.ecosystem


def split_ecosystem(ecosystem: str) -> tuple[str, str]:
    """Split an OSV ecosystem string into (family, release): ``Debian:9`` -> ``(Debian, 9)``."""
    family, _, release = ecosystem.partition(":")
    return family, release


def purl_type_for_ecosystem(family: str) -> str | None:
    """Return the purl type whose version ordering the ecosystem family uses."""
    return _PURL_TYPE_BY_ECOSYSTEM.get(family)


def normalize_name(ecosystem: str, name: str) -> str:
    """Return the canonical spelling of a package name within its ecosystem family.

    PyPI names are PEP 503-normalised; ecosystems whose names are case-insensitive
    (PyPI, NuGet, Packagist, Debian, Alpine) are lower-cased; others keep their case.
    """
    if ecosystem == "PyPI":
        return _PEP503.sub("-", name).lower()
    if ecosystem in {"NuGet", "Packagist", "Debian", "Ubuntu", "Alpine", "Wolfi", "Chainguard"}:
        return name.lower()
    return name


def _distro_release(family: str, distro: str | None) -> str:
    """Turn a purl ``distro`` qualifier into the release OSV uses for ``family``."""
    if not distro:
        return ""
    value = distro.lower()
    for prefix in ("debian-", "ubuntu-", "alpine-", "wolfi-", "rhel-", "redhat-"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
            break
    if family == "Alpine":
        parts = value.lstrip("v").split(".")
        return "v" + ".".join(parts[:2])
    if family == "Debian":
        return value.split(".")[0]
    return value


def package_key_for_purl(purl: str | PackageURL) -> PackageKey:
    """Map a Package URL to the key its advisories are filed under.

    Raises :class:`PurlError` when the purl is malformed or its type has no
    known vulnerability ecosystem.
    """
    try:
        parsed = purl if isinstance(purl, PackageURL) else PackageURL.from_string(purl)
    except ValueError as exc:
        raise PurlError(f"malformed package URL {purl!r}: {exc}") from exc
    ptype = parsed.type.lower()
    namespace = parsed.namespace or ""
    qualifiers = parsed.qualifiers if isinstance(parsed.qualifiers, dict) else {}
    if ptype in _LANGUAGE_ECOSYSTEMS:
        family = _LANGUAGE_ECOSYSTEMS[ptype]
        if ptype == "maven":
            raw = f"{namespace}:{parsed.name}" if namespace else parsed.name
        elif namespace:
            raw = f"{namespace}/{parsed.name}"
        else:
            raw = parsed.name
        return PackageKey(family, normalize_name(family, raw), "", ptype)
    distro_family = _DISTRO_ECOSYSTEMS.get((ptype, namespace.lower()))
    if distro_family is None:
        raise PurlError(f"no vulnerability ecosystem is known for purl type {ptype!r}")
    # Distribution advisories are filed under the *source* package; syft records it
    # in the ``upstream`` qualifier as ``name`` or ``name@version``.
    source = qualifiers.get("upstream") or ""
    name = source.split("@", 1)[0].strip() if source else parsed.name
    release = _distro_release(distro_family, qualifiers.get("distro"))
    return PackageKey(distro_family, normalize_name(distro_family, name), release, ptype)
