"""medwarden's own SBOM: CycloneDX 1.6 JSON of the Python environment it runs in.

The regulatory SOUP list of the tool itself.  Built from :mod:`importlib.metadata`
only: starting at the root distribution (``medwarden``), ``Requires-Dist`` is walked
recursively, environment markers are evaluated for the running interpreter with
:mod:`packaging.markers`, and extras are followed only when a requirer asks for them
(so development extras such as ``medwarden[dev]`` stay out).  Requirements that are
not installed are listed as ``medwarden:missing-requirement`` properties of the
metadata instead of components.  Licenses come from ``License-Expression``, else the
"License :: OSI Approved" classifiers, else a short ``License`` field; the supplier
and authors from ``Author``/``Author-email`` (the supplier falls back to the
maintainer); external references from ``Home-page`` and ``Project-URL``.

The result is deterministic for a given environment, clock reading and serial number:
components and dependencies are sorted by name and ref.
"""

from __future__ import annotations

import importlib.metadata
import re
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from email.utils import getaddresses
from importlib.metadata import PackageMetadata
from typing import Any

import orjson
from packageurl import PackageURL
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from medwarden.core.clock import ensure_utc
from medwarden.reports._view import TOOL_NAME, TOOL_URI, TOOL_VERSION

__all__ = ["DistributionLookup", "build_self_sbom", "render_self_sbom"]

DistributionLookup = Callable[[str], importlib.metadata.Distribution]
"""Find an installed distribution by name; raise ``PackageNotFoundError`` when absent."""

_OSI_CLASSIFIER = "License :: OSI Approved :: "
_MAX_LICENSE_FIELD = 100
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
# Project-URL labels (normalised: lower case, letters only) -> CycloneDX reference type.
_URL_TYPES = {
    "homepage": "website",
    "home": "website",
    "website": "website",
    "source": "vcs",
    "sourcecode": "vcs",
    "code": "vcs",
    "repository": "vcs",
    "github": "vcs",
    "documentation": "documentation",
    "docs": "documentation",
    "issues": "issue-tracker",
    "issuetracker": "issue-tracker",
    "bugtracker": "issue-tracker",
    "tracker": "issue-tracker",
    "changelog": "release-notes",
    "changes": "release-notes",
    "releasenotes": "release-notes",
    "releases": "release-notes",
    "funding": "other",
}


def build_self_sbom(
    root: str = "medwarden",
    *,
    now: datetime,
    serial: uuid.UUID,
    distribution: DistributionLookup = importlib.metadata.distribution,
) -> dict[str, Any]:
    """Return the CycloneDX 1.6 SBOM of ``root`` and its installed runtime requirements.

    ``now`` is the document timestamp (converted to UTC) and ``serial`` its serial
    number; ``distribution`` looks installed distributions up by name (tests pass
    fakes).  Raises ``importlib.metadata.PackageNotFoundError`` when ``root`` itself
    is not installed.
    """
    root_dist = distribution(root)
    root_key = _key(root_dist, root)
    graph = _Graph(distribution)
    graph.add(root_key, root_dist, frozenset())
    graph.walk()

    refs = {key: _purl(dist, key) for key, dist in graph.dists.items()}
    metadata: dict[str, Any] = {
        "timestamp": ensure_utc(now).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "tools": {
            "components": [
                {
                    "type": "application",
                    "name": TOOL_NAME,
                    "version": TOOL_VERSION,
                    "externalReferences": [{"type": "website", "url": TOOL_URI}],
                }
            ]
        },
        "component": _component(root_dist, root_key, refs[root_key], "application"),
    }
    if graph.missing:
        metadata["properties"] = [
            {"name": "medwarden:missing-requirement", "value": value}
            for value in sorted(graph.missing)
        ]
    others = sorted((key for key in graph.dists if key != root_key), key=lambda k: (k, refs[k]))
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial.urn,
        "version": 1,
        "metadata": metadata,
        "components": [_component(graph.dists[key], key, refs[key], "library") for key in others],
        "dependencies": [
            {"ref": refs[key], "dependsOn": sorted({refs[d] for d in graph.edges[key]})}
            for key in sorted(graph.dists, key=lambda k: refs[k])
        ],
    }


def render_self_sbom(document: dict[str, Any]) -> str:
    """Render a document from :func:`build_self_sbom` as indented JSON ending in a newline."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"


class _Graph:
    """The installed distributions reachable from the root, with their direct edges."""

    def __init__(self, lookup: DistributionLookup) -> None:
        self._lookup = lookup
        self.dists: dict[NormalizedName, importlib.metadata.Distribution] = {}
        self.extras: dict[NormalizedName, frozenset[str]] = {}
        self.edges: dict[NormalizedName, set[NormalizedName]] = {}
        self.missing: set[str] = set()
        self._pending: list[NormalizedName] = []

    def add(
        self, key: NormalizedName, dist: importlib.metadata.Distribution, extras: frozenset[str]
    ) -> None:
        """Record ``dist`` with the extras asked of it; queue it if that is new."""
        known = self.extras.get(key)
        if known is not None and extras <= known:
            return
        self.dists.setdefault(key, dist)
        self.extras[key] = extras | (known or frozenset())
        self.edges.setdefault(key, set())
        self._pending.append(key)

    def walk(self) -> None:
        """Follow requirements until every reachable distribution has been expanded."""
        while self._pending:
            key = self._pending.pop()
            dist, extras = self.dists[key], self.extras[key]
            for requirement in _active_requirements(dist.requires or (), extras):
                try:
                    found = self._lookup(requirement.name)
                except importlib.metadata.PackageNotFoundError:
                    self.missing.add(f"{requirement} (required by {_name(dist, key)})")
                    continue
                target = _key(found, requirement.name)
                if target == key:
                    continue
                self.edges[key].add(target)
                self.add(target, found, frozenset(canonicalize_name(e) for e in requirement.extras))


def _active_requirements(lines: Iterable[str], extras: frozenset[str]) -> list[Requirement]:
    """Return the requirements whose markers hold here, for the requested ``extras``."""
    active: list[Requirement] = []
    contexts = [{"extra": e} for e in sorted(extras | {""})]
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        marker = requirement.marker
        if marker is None or any(marker.evaluate(env) for env in contexts):
            active.append(requirement)
    return active


def _key(dist: importlib.metadata.Distribution, fallback: str) -> NormalizedName:
    return canonicalize_name(_name(dist, fallback))


def _name(dist: importlib.metadata.Distribution, fallback: str) -> str:
    return (_field(dist.metadata, "Name") or fallback).strip()


def _purl(dist: importlib.metadata.Distribution, key: NormalizedName) -> str:
    return PackageURL(type="pypi", name=key, version=dist.version or None).to_string()


def _component(
    dist: importlib.metadata.Distribution, key: NormalizedName, purl: str, kind: str
) -> dict[str, Any]:
    meta = dist.metadata
    out: dict[str, Any] = {"type": kind, "bom-ref": purl}
    supplier, authors = _people(_field(meta, "Author"), _field(meta, "Author-email"))
    if not supplier:  # some projects name only maintainers
        supplier, _ = _people(_field(meta, "Maintainer"), _field(meta, "Maintainer-email"))
    if supplier:
        out["supplier"] = {"name": supplier}
    if authors:
        out["authors"] = authors
    out["name"] = _name(dist, key)
    if dist.version:
        out["version"] = dist.version
    summary = (_field(meta, "Summary") or "").strip()
    if summary:
        out["description"] = summary
    licenses = _licenses(meta)
    if licenses:
        out["licenses"] = licenses
    out["purl"] = purl
    references = _references(_field(meta, "Home-page"), meta.get_all("Project-URL") or [])
    if references:
        out["externalReferences"] = references
    return out


def _field(meta: PackageMetadata, name: str) -> str | None:
    """Return the first value of a core-metadata field, or ``None`` when it is absent."""
    values: list[Any] | None = meta.get_all(name)
    return str(values[0]) if values else None


def _licenses(meta: PackageMetadata) -> list[dict[str, Any]]:
    expression = (_field(meta, "License-Expression") or "").strip()
    if expression:
        return [{"expression": expression}]
    names = [
        c.removeprefix(_OSI_CLASSIFIER).strip()
        for c in meta.get_all("Classifier") or []
        if c.startswith(_OSI_CLASSIFIER)
    ]
    if names:
        return [{"license": {"name": n}} for n in dict.fromkeys(names) if n]
    field = (_field(meta, "License") or "").strip()
    if field and len(field) < _MAX_LICENSE_FIELD and "\n" not in field and field != "UNKNOWN":
        return [{"license": {"name": field}}]
    return []


def _people(
    author: str | None, author_email: str | None
) -> tuple[str | None, list[dict[str, str]]]:
    """Return the supplier name and the CycloneDX ``authors`` from the core metadata."""
    contacts: list[dict[str, str]] = []
    for name, email in getaddresses([author_email]) if author_email else []:
        contact = {"name": name.strip()} if name.strip() else {}
        if _EMAIL.match(email):
            contact["email"] = email
        if contact:
            contacts.append(contact)
    author = (author or "").strip()
    if author and author != "UNKNOWN":
        if contacts and not any(c.get("name") for c in contacts):
            contacts[0] = {"name": author} | contacts[0]
        elif author not in {c.get("name") for c in contacts}:
            contacts.insert(0, {"name": author})
        return author, contacts
    names = [c.get("name") or c.get("email", "") for c in contacts]
    return (", ".join(n for n in names if n) or None), contacts


def _references(home_page: str | None, project_urls: list[str]) -> list[dict[str, str]]:
    pairs: list[tuple[str, str]] = []
    if home_page:
        pairs.append(("website", home_page.strip()))
    for entry in project_urls:
        label, _, url = entry.partition(",")
        kind = _URL_TYPES.get(re.sub(r"[^a-z]", "", label.lower()), "other")
        pairs.append((kind, url.strip()))
    seen: set[str] = set()
    out: list[dict[str, str]] = []
    for kind, url in pairs:
        if _URL.match(url) and url not in seen:
            seen.add(url)
            out.append({"type": kind, "url": url})
    return out
