"""CycloneDX 1.2 to 1.6 XML reader (https://cyclonedx.org/docs/1.6/xml/).

The bytes are parsed only through defusedxml, which refuses any DOCTYPE and with
it external entities and entity expansion ("billion laughs").  The element tree is
then converted into the CycloneDX JSON shape and shares the JSON reader's mapping.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from medwarden.errors import Location, SbomFormatError, SbomParseError
from medwarden.sbom.model import SbomFormat, SbomReadResult
from medwarden.sbom.readers._cyclonedx import build_cyclonedx_sbom
from medwarden.sbom.readers._fields import IssueLog
from medwarden.sbom.readers._json import MAX_DEPTH
from medwarden.sbom.validation import CYCLONEDX_VERSIONS, raise_if_strict, validate_cyclonedx_xml

__all__ = ["CycloneDxXmlReader", "cyclonedx_xml_version", "json_shape", "parse_xml"]

_NAMESPACE = re.compile(r"^\{http://cyclonedx\.org/schema/bom/(\d+\.\d+)\}bom$")
_SIMPLE = ("name", "version", "group", "publisher", "author", "cpe", "purl")


def parse_xml(data: bytes, source: str | None) -> Element:
    """Parse XML through defusedxml; DTDs, entities and syntax errors raise SbomParseError."""
    if not data.strip():
        raise SbomParseError("the document is empty", location=Location(source=source))
    try:
        root: Element = fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise SbomParseError(
            f"refused XML with a DOCTYPE or entity declaration: {type(exc).__name__}",
            location=Location(source=source),
            hint="CycloneDX XML never needs a DTD; remove the DOCTYPE",
        ) from exc
    except LookupError as exc:
        raise SbomParseError(f"XML declares an {exc}", location=Location(source=source)) from exc
    except ParseError as exc:
        line, column = exc.position
        raise SbomParseError(
            f"not well-formed XML: {exc}",
            location=Location(source=source, line=line, column=column),
        ) from exc
    if _depth(root) > MAX_DEPTH:
        raise SbomParseError(
            f"the XML document is nested deeper than {MAX_DEPTH} elements",
            location=Location(source=source),
        )
    return root


def _depth(root: Element) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        element, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in element)
    return deepest


def _local(element: Element) -> str:
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def _children(element: Element | None, name: str) -> list[Element]:
    return [] if element is None else [c for c in element if _local(c) == name]


def _child(element: Element | None, name: str) -> Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _text(element: Element | None, name: str) -> str | None:
    child = _child(element, name)
    return None if child is None else (child.text or "")


def _entity(element: Element | None, name: str) -> dict[str, Any] | None:
    entity = _child(element, name)
    return None if entity is None else {"name": _text(entity, "name")}


def _licenses(element: Element) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for choice in _child(element, "licenses") or ():
        if _local(choice) == "license":
            found.append({"license": {"id": _text(choice, "id"), "name": _text(choice, "name")}})
        elif _local(choice) == "expression":
            found.append({"expression": choice.text or ""})
    return found


def _component(element: Element) -> dict[str, Any]:
    shaped: dict[str, Any] = {k: _text(element, k) for k in _SIMPLE}
    shaped |= {"type": element.get("type"), "bom-ref": element.get("bom-ref")}
    shaped["supplier"] = _entity(element, "supplier")
    shaped["manufacturer"] = _entity(element, "manufacturer")
    shaped["authors"] = [
        {"name": _text(a, "name")} for a in _children(_child(element, "authors"), "author")
    ]
    shaped["hashes"] = [
        {"alg": h.get("alg"), "content": h.text or ""}
        for h in _children(_child(element, "hashes"), "hash")
    ]
    shaped["licenses"] = _licenses(element)
    shaped["properties"] = [
        {"name": p.get("name"), "value": p.text or ""}
        for p in _children(_child(element, "properties"), "property")
    ]
    shaped["components"] = _components(_child(element, "components"))
    return shaped


def _components(element: Element | None) -> list[dict[str, Any]]:
    return [_component(c) for c in _children(element, "component")]


def _tools(metadata: Element | None) -> Any:
    tools = _child(metadata, "tools")
    if tools is None:
        return None
    if _child(tools, "components") is not None or _child(tools, "services") is not None:
        services = _children(_child(tools, "services"), "service")
        return {
            "components": _components(_child(tools, "components")),
            "services": [_component(s) for s in services],
        }
    return [
        {k: _text(t, k) for k in ("vendor", "name", "version")} for t in _children(tools, "tool")
    ]


def _metadata(element: Element | None) -> dict[str, Any]:
    root = _child(element, "component")
    return {
        "timestamp": _text(element, "timestamp"),
        "tools": _tools(element),
        "authors": [
            {"name": _text(a, "name"), "email": _text(a, "email")}
            for a in _children(_child(element, "authors"), "author")
        ],
        "manufacture": _entity(element, "manufacture"),
        "manufacturer": _entity(element, "manufacturer"),
        "supplier": _entity(element, "supplier"),
        "component": None if root is None else _component(root),
    }


def _dependencies(element: Element | None) -> list[dict[str, Any]]:
    return [
        {"ref": d.get("ref"), "dependsOn": [c.get("ref") for c in _children(d, "dependency")]}
        for d in _children(element, "dependency")
    ]


def json_shape(bom: Element) -> dict[str, Any]:
    """Convert a CycloneDX ``<bom>`` element into the CycloneDX JSON document shape."""
    return {
        "serialNumber": bom.get("serialNumber"),
        "metadata": _metadata(_child(bom, "metadata")),
        "components": _components(_child(bom, "components")),
        "dependencies": _dependencies(_child(bom, "dependencies")),
    }


def cyclonedx_xml_version(bom: Element, source: str | None) -> str:
    """Return the supported specification version of a ``<bom>`` element (from its
    namespace), or raise :class:`SbomFormatError`."""
    match = _NAMESPACE.match(bom.tag if isinstance(bom.tag, str) else "")
    if match is None:
        raise SbomFormatError(
            f"not a CycloneDX XML document (root element {bom.tag!r})",
            location=Location(source=source, line=1),
        )
    if match.group(1) not in CYCLONEDX_VERSIONS:
        raise SbomFormatError(
            f"CycloneDX XML version {match.group(1)} is not supported",
            location=Location(source=source),
            hint=f"supported versions: {', '.join(CYCLONEDX_VERSIONS)}",
        )
    return match.group(1)


class CycloneDxXmlReader:
    """Reads CycloneDX XML documents of specification versions 1.2 to 1.6."""

    format = SbomFormat.CYCLONEDX_XML

    def read(self, data: bytes, *, source: str | None, strict: bool) -> SbomReadResult:
        """Parse safely, validate against the official XSD, and normalise ``data``."""
        bom = parse_xml(data, source)
        version = cyclonedx_xml_version(bom, source)
        issues = validate_cyclonedx_xml(data, version)
        raise_if_strict(issues, strict=strict, source=source, schema=f"CycloneDX {version} XML")
        log = IssueLog()
        sbom = build_cyclonedx_sbom(
            json_shape(bom), sbom_format=self.format, spec_version=version, source=source, log=log
        )
        return SbomReadResult(sbom, (*issues, *log.issues))
