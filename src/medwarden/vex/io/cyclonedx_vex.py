"""CycloneDX VEX reader: ``vulnerabilities[]`` of a CycloneDX 1.4-1.6 BOM, JSON or XML.

Each vulnerability becomes one statement; ``analysis.state`` and
``analysis.justification`` are mapped to the CISA/OpenVEX vocabulary (see
:mod:`medwarden.vex.model`).  A vulnerability without ``analysis`` is a VDR entry and
reads as ``affected``.  ``references[].id`` become aliases.  ``affects[].ref`` is kept
as written: a bom-ref or a BOM-Link (``urn:cdx:serial/version#bom-ref``).  XML is
parsed only through ``defusedxml`` and converted to the JSON shape first, so both
encodings share one set of rules; XML errors are located by element path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from medwarden.errors import Location, VexError
from medwarden.vex.io._fields import Cursor
from medwarden.vex.model import (
    CDX_JUSTIFICATION_TO_JUSTIFICATION,
    CDX_STATE_TO_STATUS,
    ProductRef,
    VexStatement,
    VexStatus,
)

__all__ = ["parse_cyclonedx_vex", "parse_cyclonedx_vex_xml"]


def parse_cyclonedx_vex(document: Any, *, source: str) -> tuple[VexStatement, ...]:
    """Parse a CycloneDX BOM (decoded JSON) carrying ``vulnerabilities`` into statements."""
    root = Cursor(document, source)
    root.obj()
    vulnerabilities = root.get("vulnerabilities")
    if vulnerabilities is None:
        raise root.error(
            "CycloneDX document has no 'vulnerabilities': it is a BOM, not a VEX",
            "vulnerabilities",
        )
    metadata = root.get("metadata")
    default_time = metadata.opt_time("timestamp") if metadata else None
    return tuple(_statement(v, source, default_time) for v in vulnerabilities.items())


def _statement(node: Cursor, source: str, default_time: datetime | None) -> VexStatement:
    node.obj()
    analysis = node.get("analysis")
    status, raw_state = _status(analysis)
    justification_text = analysis.opt_text("justification") if analysis else None
    justification = None
    if justification_text is not None:
        justification = CDX_JUSTIFICATION_TO_JUSTIFICATION.get(justification_text)
        if justification is None:
            raise node.error(
                f"unknown CycloneDX justification {justification_text!r}",
                "analysis/justification",
            )
    affects = node.need("affects").items()
    if not affects:
        raise node.error("vulnerability affects nothing", "affects")
    timestamp = (
        (analysis.opt_time("lastUpdated") if analysis else None)
        or node.opt_time("updated")
        or default_time
    )
    return VexStatement(
        vulnerability=node.need("id").text(),
        aliases=_aliases(node.get("references")),
        products=tuple(_product(a) for a in affects),
        status=status,
        justification=justification,
        detail=analysis.opt_text("detail") if analysis else None,
        document=source,
        timestamp=timestamp,
        source_status=raw_state,
        source_justification=justification_text,
    )


def _status(analysis: Cursor | None) -> tuple[VexStatus, str | None]:
    state_node = analysis.get("state") if analysis else None
    if state_node is None:
        return VexStatus.AFFECTED, None
    state = state_node.text()
    status = CDX_STATE_TO_STATUS.get(state)
    if status is None:
        raise state_node.error(f"unknown CycloneDX analysis state {state!r}")
    return status, state


def _aliases(references: Cursor | None) -> tuple[str, ...]:
    if references is None:
        return ()
    return tuple(r.need("id").text() for r in references.items())


def _product(node: Cursor) -> ProductRef:
    ref = node.need("ref").text()
    versions: list[str] = []
    ranges: list[str] = []
    found = node.get("versions")
    for entry in found.items() if found else []:
        version = entry.opt_text("version")
        span = entry.opt_text("range")
        if version is None and span is None:
            raise entry.error("affected version needs 'version' or 'range'")
        if version is not None:
            versions.append(version)
        if span is not None:
            ranges.append(span)
    return ProductRef(identifiers=(ref,), versions=tuple(versions), ranges=tuple(ranges))


def parse_cyclonedx_vex_xml(data: bytes, *, source: str) -> tuple[VexStatement, ...]:
    """Parse a CycloneDX XML BOM carrying ``<vulnerabilities>`` into statements."""
    try:
        root = SafeET.fromstring(data)
    except (ParseError, DefusedXmlException) as exc:
        position = getattr(exc, "position", (None, None))
        raise VexError(
            f"VEX document is not well-formed or safe XML: {exc}",
            location=Location(source=source, line=position[0], column=position[1]),
        ) from exc
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    if _local(root.tag) != "bom" or "cyclonedx.org/schema/bom" not in namespace:
        raise VexError(
            "XML document is not a CycloneDX BOM", location=Location(source=source, pointer="")
        )
    return parse_cyclonedx_vex(_bom_to_json(root), source=source)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: Element | None, name: str) -> list[Element]:
    return [] if element is None else [c for c in element if _local(c.tag) == name]


def _child(element: Element | None, name: str) -> Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _text(element: Element | None, name: str) -> str | None:
    found = _child(element, name)
    return None if found is None or found.text is None else found.text.strip()


def _bom_to_json(root: Element) -> dict[str, Any]:
    out: dict[str, Any] = {"bomFormat": "CycloneDX"}
    timestamp = _text(_child(root, "metadata"), "timestamp")
    if timestamp:
        out["metadata"] = {"timestamp": timestamp}
    container = _child(root, "vulnerabilities")
    if container is not None:
        out["vulnerabilities"] = [_vulnerability(v) for v in _children(container, "vulnerability")]
    return out


def _vulnerability(element: Element) -> dict[str, Any]:
    vuln: dict[str, Any] = {"id": _text(element, "id"), "updated": _text(element, "updated")}
    references = _child(element, "references")
    if references is not None:
        vuln["references"] = [{"id": _text(r, "id")} for r in _children(references, "reference")]
    analysis = _child(element, "analysis")
    if analysis is not None:
        vuln["analysis"] = {
            key: _text(analysis, key) for key in ("state", "justification", "detail", "lastUpdated")
        }
    affects = _child(element, "affects")
    if affects is not None:
        vuln["affects"] = [_target(t) for t in _children(affects, "target")]
    return vuln


def _target(element: Element) -> dict[str, Any]:
    target: dict[str, Any] = {"ref": _text(element, "ref")}
    versions = _child(element, "versions")
    if versions is not None:
        target["versions"] = [
            {"version": _text(v, "version"), "range": _text(v, "range")}
            for v in _children(versions, "version")
        ]
    return target
