"""SPDX 2.2/2.3 documents in their JSON shape into the normalised model.

The JSON reader hands over the parsed document; the tag-value reader builds the same
shape from its lines, so both formats share this one mapping.  Relationships are
normalised to dependency edges between packages: ``A DEPENDS_ON B`` and
``A CONTAINS B`` become A→B, ``A DEPENDENCY_OF B`` and ``A CONTAINED_BY B`` become B→A;
``DOCUMENT DESCRIBES X`` (or ``documentDescribes``) makes X the root.  Relationships
to files, snippets or unknown elements are not edges between components and are
dropped.  ``validUntilDate`` and medwarden's own support annotations become component
properties (:mod:`medwarden.sbom.support_properties`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from medwarden.sbom.model import Component, Dependency, Hash, Sbom, SbomFormat
from medwarden.sbom.readers._fields import (
    IssueLog,
    RefFactory,
    as_list,
    as_mapping,
    refuse_if_unusable,
    text,
)
from medwarden.sbom.support_properties import annotation_property

__all__ = ["build_spdx_sbom", "spdx_package_refs"]

_FORWARD = frozenset({"DEPENDS_ON", "CONTAINS"})
_BACKWARD = frozenset({"DEPENDENCY_OF", "CONTAINED_BY"})
_NO_VALUE = frozenset({"NOASSERTION", "NONE"})
_CPE_TYPES = frozenset({"cpe23Type", "cpe22Type"})


@dataclass(slots=True)
class _Context:
    log: IssueLog
    refs: RefFactory = field(default_factory=RefFactory)
    skipped: int = 0


def _party(value: Any) -> str | None:
    """``Organization: X`` / ``Person: X (mail)`` / ``Tool: X`` -> ``X``; NOASSERTION -> None."""
    raw = text(value)
    if raw is None or raw in _NO_VALUE:
        return None
    _, sep, rest = raw.partition(":")
    name = rest.strip() if sep else raw
    if name.endswith(")") and "(" in name:
        name = name[: name.rindex("(")].strip()
    return name or None


def _external_refs(raw: Any) -> tuple[str | None, tuple[str, ...]]:
    purl: str | None = None
    cpes: list[str] = []
    for ref in raw if isinstance(raw, list) else []:
        if not isinstance(ref, Mapping):
            continue
        locator = text(ref.get("referenceLocator"))
        if locator is None:
            continue
        kind = text(ref.get("referenceType"))
        if kind == "purl" and purl is None:
            purl = locator
        elif kind in _CPE_TYPES and locator not in cpes:
            cpes.append(locator)
    return purl, tuple(cpes)


def _hashes(raw: Any) -> tuple[Hash, ...]:
    items = raw if isinstance(raw, list) else []
    return tuple(
        Hash(str(c["algorithm"]), str(c["checksumValue"]))
        for c in items
        if isinstance(c, Mapping) and text(c.get("algorithm")) and text(c.get("checksumValue"))
    )


def _licenses(raw: Mapping[str, Any]) -> tuple[str, ...]:
    found = (text(raw.get(k)) for k in ("licenseDeclared", "licenseConcluded"))
    return tuple(dict.fromkeys(v for v in found if v and v not in _NO_VALUE))


def _package(raw: Any, pointer: str, ctx: _Context) -> Component | None:
    if not isinstance(raw, Mapping):
        ctx.log.error(f"package is a {type(raw).__name__}, not an object; skipped", pointer)
        return None
    name, version = raw.get("name"), raw.get("versionInfo")
    if not isinstance(name, str) or text(name) is None:
        ctx.log.error("package has no usable name; skipped", pointer)
        return None
    if version is not None and not isinstance(version, str):
        ctx.log.error(f"package {name!r} has a non-string versionInfo; skipped", pointer)
        return None
    purl, cpes = _external_refs(raw.get("externalRefs"))
    return Component(
        ref=ctx.refs.ref(text(raw.get("SPDXID")), raw, pointer, ctx.log),
        name=name.strip(),
        version=text(version),
        purl=ctx.log.purl(purl, f"{pointer}/externalRefs"),
        cpes=cpes,
        supplier=_party(raw.get("supplier")),
        component_type=text(raw.get("primaryPackagePurpose")),
        hashes=_hashes(raw.get("checksums")),
        licenses=_licenses(raw),
        properties=(*_valid_until(raw), *_support_annotations(raw)),
    )


def _valid_until(raw: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """SPDX 2.3 ``validUntilDate`` (end of support) as the ``spdx:validUntilDate`` property."""
    value = text(raw.get("validUntilDate")) if isinstance(raw.get("validUntilDate"), str) else None
    return (("spdx:validUntilDate", value),) if value else ()


def _support_annotations(raw: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """medwarden's support annotations (level, justification) as the properties they encode."""
    annotations = raw.get("annotations")
    found = []
    for annotation in annotations if isinstance(annotations, list) else ():
        comment = annotation.get("comment") if isinstance(annotation, Mapping) else None
        pair = annotation_property(comment) if isinstance(comment, str) else None
        if pair is not None:
            found.append(pair)
    return tuple(found)


def _walk(document: Mapping[str, Any], ctx: _Context) -> list[tuple[Mapping[str, Any], Component]]:
    found = []
    for index, raw in enumerate(as_list(document.get("packages"), "/packages", ctx.log)):
        component = _package(raw, f"/packages/{index}", ctx)
        if component is None:
            ctx.skipped += 1
        else:
            found.append((raw, component))
    return found


def _packages(document: Mapping[str, Any], ctx: _Context) -> tuple[Component, ...]:
    return tuple(component for _raw, component in _walk(document, ctx))


def spdx_package_refs(document: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], str]]:
    """Each package object of an SPDX document (JSON shape) that the reader keeps, with
    the ref (``SPDXID``, or the synthetic one) the reader gives it, in document order."""
    return [(raw, c.ref) for raw, c in _walk(document, _Context(IssueLog()))]


def _edges(
    document: Mapping[str, Any], known: set[str], log: IssueLog
) -> tuple[tuple[Dependency, ...], list[str]]:
    doc_id = text(document.get("SPDXID")) or "SPDXRef-DOCUMENT"
    edges: dict[str, list[str]] = {}
    described = list(as_list(document.get("documentDescribes"), "/documentDescribes", log))
    for index, rel in enumerate(as_list(document.get("relationships"), "/relationships", log)):
        if not isinstance(rel, Mapping):
            log.error("relationship is not an object; ignored", f"/relationships/{index}")
            continue
        kind = text(rel.get("relationshipType"))
        left, right = text(rel.get("spdxElementId")), text(rel.get("relatedSpdxElement"))
        if kind == "DESCRIBES" and left == doc_id:
            described.append(right)
        elif kind in _BACKWARD:
            left, right = right, left
        elif kind not in _FORWARD and kind != "DESCRIBES":
            continue
        if left in known and right in known and left is not None and right is not None:
            targets = edges.setdefault(left, [])
            if right not in targets:
                targets.append(right)
    roots = [d for d in described if isinstance(d, str) and d in known]
    return tuple(Dependency(ref, tuple(t)) for ref, t in edges.items()), roots


def _creators(creation: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    people: list[str] = []
    tools: list[str] = []
    for creator in (
        creation.get("creators") or () if isinstance(creation.get("creators"), list) else ()
    ):
        name = _party(creator)
        if name is None:
            continue
        (tools if str(creator).strip().startswith("Tool:") else people).append(name)
    return tuple(dict.fromkeys(people)), tuple(dict.fromkeys(tools))


def build_spdx_sbom(
    document: Mapping[str, Any],
    *,
    sbom_format: SbomFormat,
    spec_version: str,
    source: str | None,
    log: IssueLog,
) -> Sbom:
    """Build an :class:`Sbom` from an SPDX document in JSON shape.

    Every package is a component (the described root package included).  Packages
    that cannot be used are skipped with an issue; :class:`SbomParseError` is raised
    when the document lists packages but none of them is usable.
    """
    ctx = _Context(log)
    components = _packages(document, ctx)
    refuse_if_unusable(
        document.get("packages"), len(components), ctx.skipped, log, what="packages", source=source
    )
    dependencies, roots = _edges(document, {c.ref for c in components}, log)
    root = next((c for c in components if roots and c.ref == roots[0]), None)
    creation = as_mapping(document.get("creationInfo"), "/creationInfo", log)
    people, tools = _creators(creation)
    return Sbom(
        format=sbom_format,
        spec_version=spec_version,
        components=components,
        dependencies=dependencies,
        serial_number=text(document.get("documentNamespace")),
        name=root.name if root else text(document.get("name")),
        version=root.version if root else None,
        root_ref=root.ref if root else None,
        authors=tuple(dict.fromkeys((*people, *tools))),
        tools=tools,
        timestamp=log.timestamp(creation.get("created"), "/creationInfo/created"),
        source=source,
    )
