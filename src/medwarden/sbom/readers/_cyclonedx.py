"""CycloneDX documents in their JSON shape into the normalised model.

The JSON reader hands over the parsed document; the XML reader first converts its
element tree into the same shape, so both formats share this one mapping.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from packageurl import PackageURL

from medwarden.sbom.model import Component, Dependency, Hash, Sbom, SbomFormat
from medwarden.sbom.readers._fields import (
    IssueLog,
    RefFactory,
    as_list,
    as_mapping,
    refuse_if_unusable,
    text,
)

__all__ = ["build_cyclonedx_sbom", "cyclonedx_component_refs"]


@dataclass(slots=True)
class _Context:
    log: IssueLog
    refs: RefFactory = field(default_factory=RefFactory)
    skipped: int = 0


def _supplier(raw: Mapping[str, Any]) -> str | None:
    for key in ("supplier", "manufacturer"):
        entity = raw.get(key)
        if isinstance(entity, Mapping) and text(entity.get("name")):
            return text(entity.get("name"))
    authors = raw.get("authors")
    for author in authors if isinstance(authors, list) else ():
        if isinstance(author, Mapping) and text(author.get("name")):
            return text(author.get("name"))
    return text(raw.get("publisher")) or text(raw.get("author"))


def _hashes(raw: Any) -> tuple[Hash, ...]:
    items = raw if isinstance(raw, list) else []
    return tuple(
        Hash(str(h["alg"]), str(h["content"]))
        for h in items
        if isinstance(h, Mapping) and text(h.get("alg")) and text(h.get("content"))
    )


def _licenses(raw: Any) -> tuple[str, ...]:
    found: list[str] = []
    for choice in raw if isinstance(raw, list) else []:
        if not isinstance(choice, Mapping):
            continue
        lic = choice.get("license")
        if isinstance(lic, Mapping):
            value = text(lic.get("id")) or text(lic.get("name"))
        else:
            value = text(choice.get("expression"))
        if value and value not in found:
            found.append(value)
    return tuple(found)


def _properties(raw: Any) -> tuple[tuple[str, str], ...]:
    items = raw if isinstance(raw, list) else []
    pairs: list[tuple[str, str]] = []
    for prop in items:
        if isinstance(prop, Mapping) and isinstance(prop.get("name"), str):
            value = prop.get("value")
            pairs.append((prop["name"], value if isinstance(value, str) else ""))
    return tuple(pairs)


def _name_from_purl(value: Any) -> str | None:
    """The name part of a well-formed purl, so a nameless component is still checked."""
    raw = text(value)
    if raw is None:
        return None
    try:
        return PackageURL.from_string(raw).name or None
    except ValueError:
        return None


def _component(raw: Any, pointer: str, ctx: _Context) -> Component | None:
    if not isinstance(raw, Mapping):
        ctx.log.error(f"component is a {type(raw).__name__}, not an object; skipped", pointer)
        return None
    name = text(raw.get("name")) if isinstance(raw.get("name"), str) else None
    version = raw.get("version")
    if name is None:
        name = _name_from_purl(raw.get("purl"))
        if name is None:
            ctx.log.error("component has no usable name and no purl to name it; skipped", pointer)
            return None
        ctx.log.error(f"component has no usable name; named {name!r} from its purl", pointer)
    if version is not None and not isinstance(version, str):
        ctx.log.error(f"component {name!r} has a non-string version; skipped", pointer)
        return None
    cpe = text(raw.get("cpe"))
    return Component(
        ref=ctx.refs.ref(text(raw.get("bom-ref")), raw, pointer, ctx.log),
        name=name,
        version=text(version),
        group=text(raw.get("group")),
        purl=ctx.log.purl(raw.get("purl"), f"{pointer}/purl"),
        cpes=(cpe,) if cpe else (),
        supplier=_supplier(raw),
        component_type=text(raw.get("type")),
        hashes=_hashes(raw.get("hashes")),
        licenses=_licenses(raw.get("licenses")),
        properties=_properties(raw.get("properties")),
    )


def _walk(raw: Any, pointer: str, ctx: _Context) -> Iterator[tuple[Mapping[str, Any], Component]]:
    """Each usable component (depth first, as listed) with the object it was read from."""
    for index, item in enumerate(as_list(raw, pointer, ctx.log)):
        here = f"{pointer}/{index}"
        component = _component(item, here, ctx)
        if component is None:
            ctx.skipped += 1
            continue
        yield item, component
        yield from _walk(item.get("components"), f"{here}/components", ctx)


def _flatten(raw: Any, pointer: str, ctx: _Context) -> Iterator[Component]:
    return (component for _item, component in _walk(raw, pointer, ctx))


def cyclonedx_component_refs(document: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], str]]:
    """Each component object of a CycloneDX document (JSON shape) that the reader keeps,
    with the ref the reader gives it, in reading order (``metadata.component`` excluded).

    Refs are computed exactly as :func:`build_cyclonedx_sbom` computes them (synthetic
    refs included), so writers can find the component a stored ref names."""
    ctx = _Context(IssueLog())
    _root(as_mapping(document.get("metadata"), "/metadata", ctx.log), ctx)
    return [(item, c.ref) for item, c in _walk(document.get("components"), "/components", ctx)]


def _dependencies(raw: Any, log: IssueLog) -> tuple[Dependency, ...]:
    edges: list[Dependency] = []
    for index, item in enumerate(as_list(raw, "/dependencies", log)):
        ref = text(item.get("ref")) if isinstance(item, Mapping) else None
        if ref is None:
            log.error("dependency without a ref; ignored", f"/dependencies/{index}")
            continue
        targets = item.get("dependsOn")
        depends_on = (
            tuple(t for t in targets if isinstance(t, str)) if isinstance(targets, list) else ()
        )
        edges.append(Dependency(ref, depends_on))
    return tuple(edges)


def _tool_name(tool: Any) -> str | None:
    if not isinstance(tool, Mapping):
        return None
    parts = [text(tool.get(k)) for k in ("vendor", "group", "name", "version")]
    words = [p for p in parts if p]
    return " ".join(words) or None


def _list_or_empty(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _tools(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    raw = metadata.get("tools")
    if isinstance(raw, Mapping):  # CycloneDX 1.5+: {"components": [...], "services": [...]}
        items = [
            *_list_or_empty(raw.get("components")),
            *_list_or_empty(raw.get("services")),
        ]
    else:  # CycloneDX <= 1.4 (deprecated later): [{"vendor", "name", "version"}]
        items = raw if isinstance(raw, list) else []
    return tuple(name for name in map(_tool_name, items) if name)


def _authors(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    authors = metadata.get("authors")
    found = [
        text(author.get("name")) or text(author.get("email")) or ""
        for author in (authors if isinstance(authors, list) else [])
        if isinstance(author, Mapping)
    ]
    for key in ("manufacture", "manufacturer", "supplier"):
        entity = metadata.get(key)
        if isinstance(entity, Mapping):
            found.append(text(entity.get("name")) or "")
    return tuple(dict.fromkeys(a for a in found if a))


def _root(metadata: Mapping[str, Any], ctx: _Context) -> Component | None:
    raw = metadata.get("component")
    if raw is None:
        return None
    return _component(raw, "/metadata/component", ctx)


def build_cyclonedx_sbom(
    document: Mapping[str, Any],
    *,
    sbom_format: SbomFormat,
    spec_version: str,
    source: str | None,
    log: IssueLog,
) -> Sbom:
    """Build an :class:`Sbom` from a CycloneDX document in JSON shape.

    ``metadata.component`` is the root (its ref, name and version describe the
    SBOM) and is not itself listed among the components.  Components that cannot
    be used are skipped with an issue; :class:`SbomParseError` is raised when the
    document lists components but none of them is usable.
    """
    ctx = _Context(log)
    metadata = as_mapping(document.get("metadata"), "/metadata", log)
    root = _root(metadata, ctx)
    components = tuple(_flatten(document.get("components"), "/components", ctx))
    refuse_if_unusable(
        document.get("components"),
        len(components),
        ctx.skipped,
        log,
        what="components",
        source=source,
    )
    tools = _tools(metadata)
    return Sbom(
        format=sbom_format,
        spec_version=spec_version,
        components=components,
        dependencies=_dependencies(document.get("dependencies"), log),
        serial_number=text(document.get("serialNumber")),
        name=root.name if root else None,
        version=root.version if root else None,
        root_ref=root.ref if root else None,
        authors=tuple(dict.fromkeys((*_authors(metadata), *tools))),
        tools=tools,
        timestamp=log.timestamp(metadata.get("timestamp"), "/metadata/timestamp"),
        source=source,
    )
