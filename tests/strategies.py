"""Hypothesis strategies shared by the test suite (other areas may append theirs)."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from hypothesis import strategies as st

# --- SBOM documents -------------------------------------------------------------------

_SAFE = "abcdefghijklmnopqrstuvwxyz0123456789"
CYCLONEDX_SPEC_VERSIONS = ("1.2", "1.3", "1.4", "1.5", "1.6")
SPDX_SPEC_VERSIONS = ("2.2", "2.3")

component_names = st.text(alphabet=_SAFE + "-_.", min_size=1, max_size=24).filter(
    lambda s: s[0] not in "-_."
)
"""Package names valid in every format (and as a purl name)."""

component_versions = st.text(alphabet=_SAFE + ".-+~", min_size=1, max_size=16).filter(
    lambda s: s[0].isalnum()
)
"""Version strings valid in every format."""


@st.composite
def sbom_packages(draw: st.DrawFn, max_size: int = 8) -> list[dict[str, str | None]]:
    """Packages with unique names: ``name``, ``version`` and an optional npm ``purl``."""
    names = draw(st.lists(component_names, min_size=1, max_size=max_size, unique=True))
    packages = []
    for name in names:
        version = draw(component_versions)
        with_purl = draw(st.booleans())
        purl = f"pkg:npm/{name.lower()}@{version}" if with_purl else None
        packages.append({"name": name, "version": version, "purl": purl})
    return packages


def cyclonedx_json_document(version: str, packages: list[dict[str, str | None]]) -> bytes:
    """A schema-valid CycloneDX JSON document listing ``packages``."""
    components = []
    for index, package in enumerate(packages):
        component = {"type": "library", "bom-ref": f"ref-{index}", **package}
        if component["purl"] is None:
            del component["purl"]
        components.append(component)
    document = {"bomFormat": "CycloneDX", "specVersion": version, "version": 1}
    document["components"] = components
    return json.dumps(document).encode()


def cyclonedx_xml_document(version: str, packages: list[dict[str, str | None]]) -> bytes:
    """A schema-valid CycloneDX XML document listing ``packages``."""
    parts = [f'<bom xmlns="http://cyclonedx.org/schema/bom/{version}" version="1"><components>']
    for index, package in enumerate(packages):
        parts.append(f'<component type="library" bom-ref={quoteattr(f"ref-{index}")}>')
        parts.append(f"<name>{escape(str(package['name']))}</name>")
        parts.append(f"<version>{escape(str(package['version']))}</version>")
        if package["purl"]:
            parts.append(f"<purl>{escape(package['purl'])}</purl>")
        parts.append("</component>")
    parts.append("</components></bom>")
    return "".join(parts).encode()


def _spdx_package(index: int, package: dict[str, str | None]) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "SPDXID": f"SPDXRef-Package-{index}",
        "name": package["name"],
        "versionInfo": package["version"],
        "downloadLocation": "NOASSERTION",
    }
    if package["purl"]:
        shaped["externalRefs"] = [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": package["purl"],
            }
        ]
    return shaped


def spdx_json_document(version: str, packages: list[dict[str, str | None]]) -> bytes:
    """A schema-valid SPDX JSON document listing ``packages``."""
    document = {
        "spdxVersion": f"SPDX-{version}",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "generated",
        "documentNamespace": "https://example.org/spdx/generated",
        "creationInfo": {"created": "2024-01-02T03:04:05Z", "creators": ["Tool: hypothesis"]},
        "packages": [_spdx_package(i, p) for i, p in enumerate(packages)],
    }
    return json.dumps(document).encode()


def spdx_tag_value_document(version: str, packages: list[dict[str, str | None]]) -> bytes:
    """An SPDX tag-value document listing ``packages``."""
    lines = [
        f"SPDXVersion: SPDX-{version}",
        "DataLicense: CC0-1.0",
        "SPDXID: SPDXRef-DOCUMENT",
        "DocumentName: generated",
        "DocumentNamespace: https://example.org/spdx/generated",
        "Creator: Tool: hypothesis",
        "Created: 2024-01-02T03:04:05Z",
    ]
    for index, package in enumerate(packages):
        lines += [
            "",
            f"PackageName: {package['name']}",
            f"SPDXID: SPDXRef-Package-{index}",
            f"PackageVersion: {package['version']}",
            "PackageDownloadLocation: NOASSERTION",
        ]
        if package["purl"]:
            lines.append(f"ExternalRef: PACKAGE-MANAGER purl {package['purl']}")
    return ("\n".join(lines) + "\n").encode()


DOCUMENT_BUILDERS = {
    "cyclonedx-json": (cyclonedx_json_document, CYCLONEDX_SPEC_VERSIONS),
    "cyclonedx-xml": (cyclonedx_xml_document, CYCLONEDX_SPEC_VERSIONS),
    "spdx-json": (spdx_json_document, SPDX_SPEC_VERSIONS),
    "spdx-tag-value": (spdx_tag_value_document, SPDX_SPEC_VERSIONS),
}
"""Format name -> (document builder, spec versions it can be generated for)."""


@st.composite
def sbom_documents(draw: st.DrawFn, sbom_format: str) -> tuple[bytes, list[dict[str, str | None]]]:
    """A valid document of ``sbom_format`` and the packages it lists."""
    builder, versions = DOCUMENT_BUILDERS[sbom_format]
    packages = draw(sbom_packages())
    return builder(draw(st.sampled_from(versions)), packages), packages


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
"""Arbitrary JSON values."""


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated_json(draw: st.DrawFn, document: Any, max_mutations: int = 3) -> bytes:
    """``document`` with a few values replaced by arbitrary JSON or deleted, as bytes."""
    mutated = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = [p for p in _paths(mutated) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = mutated
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return json.dumps(mutated).encode()


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` truncated, with a slice replaced by random bytes, or both."""
    cut = draw(st.integers(0, len(data)))
    start = draw(st.integers(0, cut))
    noise = draw(st.binary(max_size=8))
    return data[:start] + noise + data[start + len(noise) : cut]


def format_prefixed_bytes() -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, some starting the way each format does so readers get to see them."""
    prefixes = st.sampled_from([b"", b"{", b"<", b"SPDXVersion: SPDX-2.3\n", b'{"bomFormat":'])
    return st.tuples(prefixes, st.binary(max_size=200)).map(lambda pair: pair[0] + pair[1])


# --- component support records (REQUIREMENTS 3) ----------------------------------------

_XML_TEXT = st.characters(exclude_categories=("Cc", "Cs", "Cn")) | st.sampled_from("\t\n\r")
"""Characters every SBOM format can carry (XML 1.0 has no other control characters)."""

support_levels = st.one_of(
    st.none(),
    st.sampled_from(
        ["actively_maintained", "No longer maintained", "abandoned", "Actively-Maintained"]
    ),
    st.text(_XML_TEXT, max_size=30),
)
"""Levels of support: the FDA phrases in several spellings, free text, or none."""

support_dates = st.none() | st.dates(min_value=date(1970, 1, 1), max_value=date(9999, 12, 31))
"""End-of-support dates, or none."""

support_justifications = st.none() | st.text(_XML_TEXT, max_size=60)
"""Justifications for a missing date (any text, blank ones included), or none."""


@st.composite
def component_supports(draw: st.DrawFn) -> Any:
    """A valid :class:`~medwarden.portfolio.support.ComponentSupport` (date or justification)."""
    from medwarden.errors import UsageError
    from medwarden.portfolio.support import ComponentSupport

    level = draw(support_levels)
    end = draw(support_dates)
    why = draw(support_justifications)
    try:
        return ComponentSupport(level, end, why)
    except UsageError:
        return ComponentSupport(level, end, "no date published")
