"""Write support records into an SBOM document: the *annotated* export (REQUIREMENTS 3).

:func:`annotate_sbom` takes an SBOM document as imported, its format and the support
record of some of its components (keyed by the ref the readers give them) and returns
the document with those records written the way medwarden reads them back
(:mod:`medwarden.sbom.support_properties`):

* **CycloneDX JSON** (1.3-1.6): the component's support properties, in any spelling, are
  replaced by ``medwarden:level_of_support``, ``medwarden:end_of_support`` (ISO 8601
  date) and ``medwarden:support_justification``; other properties stay as they were.
* **CycloneDX XML** (1.3-1.6): the same as ``<property>`` elements in the component's
  ``<properties>`` (created where the schema's element order wants it).  The bytes are
  parsed through defusedxml first (a DTD, and with it any entity declaration, is
  refused); the tree written back is then built by lxml with entity resolution, DTD
  loading and network access off, because it keeps namespace prefixes and comments.
* **SPDX JSON**: ``validUntilDate`` (ISO 8601 date-time, midnight UTC) carries the date;
  the level and the justification are package annotations (``annotationType``
  ``OTHER``, annotator ``Tool: <tool>``, dated ``at``) whose comment is
  ``medwarden:level_of_support=VALUE`` -- SPDX 2.3 has no field for them, and an
  annotation is structured where ``comment`` is free text someone may already use.
  SPDX 2.2 documents are written as 2.3 (``validUntilDate`` exists only there; 2.3 is
  a superset of 2.2).
* **SPDX tag-value** and **CycloneDX 1.2** (no properties) are refused with a
  :class:`~medwarden.errors.UsageError`: re-import the SBOM in another format.

A component given ``None`` loses every support statement; components not named keep
theirs.  A named ref the document does not hold is a :class:`UsageError`.  CycloneDX
documents get their BOM ``version`` incremented (when stated), as the specification
asks of a modified BOM.  JSON is written back with two-space indentation, keys in their
original order.  The output depends only on the inputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, assert_never, cast

import orjson
from lxml import etree

from medwarden.errors import UsageError
from medwarden.sbom.model import SbomFormat
from medwarden.sbom.readers._cyclonedx import cyclonedx_component_refs
from medwarden.sbom.readers._json import load_json_object
from medwarden.sbom.readers._spdx import spdx_package_refs
from medwarden.sbom.readers.cyclonedx_json import cyclonedx_json_version
from medwarden.sbom.readers.cyclonedx_xml import cyclonedx_xml_version, json_shape, parse_xml
from medwarden.sbom.readers.spdx_json import spdx_version
from medwarden.sbom.support_properties import (
    SupportField,
    annotation_comment,
    annotation_property,
    support_field,
)

__all__ = ["ANNOTATABLE_FORMATS", "SupportAnnotation", "annotate_sbom"]

ANNOTATABLE_FORMATS = frozenset(
    {SbomFormat.CYCLONEDX_JSON, SbomFormat.CYCLONEDX_XML, SbomFormat.SPDX_JSON}
)
"""The formats :func:`annotate_sbom` writes."""

# Children of a CycloneDX <component> that come after <properties> in every XSD (1.3-1.6).
_XML_AFTER_PROPERTIES = frozenset(
    {"components", "evidence", "releaseNotes", "modelCard", "data", "cryptoProperties", "tags"}
)
_JSON_INDENT = orjson.OPT_INDENT_2


@dataclass(frozen=True, slots=True)
class SupportAnnotation:
    """A support record as plain values (the portfolio validates it before it gets here)."""

    level: str | None = None
    end_of_support: date | None = None
    justification: str | None = None

    def fields(self) -> list[tuple[SupportField, str]]:
        """The stated parts as ``(field, text)``, in the order they are written."""
        found: list[tuple[SupportField, str]] = []
        if self.level is not None:
            found.append((SupportField.LEVEL, self.level))
        if self.end_of_support is not None:
            found.append((SupportField.END_OF_SUPPORT, self.end_of_support.isoformat()))
        if self.justification is not None:
            found.append((SupportField.JUSTIFICATION, self.justification))
        return found


Records = Mapping[str, SupportAnnotation | None]


def annotate_sbom(
    data: bytes,
    sbom_format: SbomFormat,
    records: Records,
    *,
    at: datetime,
    tool: str = "medwarden",
) -> bytes:
    """Return ``data`` with the support record of each component named in ``records``.

    ``at`` dates SPDX annotations; ``tool`` names their annotator.  Raises
    :class:`UsageError` for a format that cannot carry the records and
    :class:`~medwarden.errors.SbomError` for a document that cannot be read."""
    if sbom_format is SbomFormat.CYCLONEDX_JSON:
        return _cyclonedx_json(data, records)
    if sbom_format is SbomFormat.CYCLONEDX_XML:
        return _cyclonedx_xml(data, records)
    if sbom_format is SbomFormat.SPDX_JSON:
        return _spdx_json(data, records, at=at, tool=tool)
    if sbom_format is SbomFormat.SPDX_TAG_VALUE:
        raise UsageError(
            "an SPDX tag-value SBOM cannot be exported with support annotations",
            hint="re-import the release's SBOM as SPDX JSON or CycloneDX, "
            "or download it as imported",
        )
    assert_never(sbom_format)


def _check_found(records: Records, found: set[str]) -> None:
    missing = sorted(set(records) - found)
    if missing:
        raise UsageError(
            f"the SBOM has no component {missing[0]!r}",
            details=tuple(missing[:20]),
        )


def _require_properties(spec_version: str) -> None:
    if spec_version == "1.2":
        raise UsageError(
            "CycloneDX 1.2 has no component properties to carry support records",
            hint="re-import the release's SBOM as CycloneDX 1.3 or later",
        )


def _dump_json(document: Mapping[str, Any]) -> bytes:
    return orjson.dumps(document, option=_JSON_INDENT) + b"\n"


# -- CycloneDX JSON ------------------------------------------------------------------------


def _cyclonedx_json(data: bytes, records: Records) -> bytes:
    document = cast(dict[str, Any], load_json_object(data, None))
    _require_properties(cyclonedx_json_version(document, None))
    found: set[str] = set()
    for raw, ref in cyclonedx_component_refs(document):
        if ref in records:
            _json_properties(cast(dict[str, Any], raw), records[ref])
            found.add(ref)
    _check_found(records, found)
    version = document.get("version")
    if isinstance(version, int) and not isinstance(version, bool):
        document["version"] = version + 1
    return _dump_json(document)


def _is_support_property(prop: Any) -> bool:
    return (
        isinstance(prop, Mapping)
        and isinstance(prop.get("name"), str)
        and support_field(prop["name"]) is not None
    )


def _json_properties(component: dict[str, Any], record: SupportAnnotation | None) -> None:
    existing = component.get("properties")
    kept = (
        [p for p in existing if not _is_support_property(p)] if isinstance(existing, list) else []
    )
    for field, value in record.fields() if record else ():
        kept.append({"name": field.property_name, "value": value})
    if kept:
        component["properties"] = kept
    else:
        component.pop("properties", None)


# -- CycloneDX XML -------------------------------------------------------------------------

_Element = etree._Element


def _local(element: _Element) -> str:
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _namespace(element: _Element) -> str | None:
    tag = element.tag
    if not isinstance(tag, str) or not tag.startswith("{"):
        return None
    return tag[1:].split("}", 1)[0]


def _children(element: _Element | None, name: str) -> list[_Element]:
    return [] if element is None else [c for c in element if _local(c) == name]


def _child(element: _Element | None, name: str) -> _Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _lxml_root(data: bytes) -> _Element:
    """The tree of bytes defusedxml already accepted (no DTD, hence no entity declaration)."""
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=False,
    )
    return etree.fromstring(data, parser=parser)


def _xml_pairs(shaped: Any, parent: _Element | None) -> Iterator[tuple[Any, _Element]]:
    """Each component of the JSON shape with its element; both list the same components
    in the same order (the shape was made from the same document)."""
    items = shaped if isinstance(shaped, list) else []
    for raw, element in zip(items, _children(parent, "component"), strict=True):
        yield raw, element
        yield from _xml_pairs(raw.get("components"), _child(element, "components"))


def _cyclonedx_xml(data: bytes, records: Records) -> bytes:
    bom = parse_xml(data, None)
    _require_properties(cyclonedx_xml_version(bom, None))
    shape = json_shape(bom)
    refs = {id(raw): ref for raw, ref in cyclonedx_component_refs(shape)}
    root = _lxml_root(data)
    found: set[str] = set()
    for raw, element in _xml_pairs(shape.get("components"), _child(root, "components")):
        ref = refs.get(id(raw))
        if ref is not None and ref in records:
            _xml_properties(element, records[ref])
            found.add(ref)
    _check_found(records, found)
    version = root.get("version")
    if version is not None and version.strip().isdigit():
        root.set("version", str(int(version) + 1))
    return bytes(etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8"))


def _xml_properties(component: _Element, record: SupportAnnotation | None) -> None:
    namespace = _namespace(component)
    properties = _child(component, "properties")
    if properties is not None:
        for prop in _children(properties, "property"):
            if support_field(prop.get("name") or "") is not None:
                properties.remove(prop)
    wanted = record.fields() if record else []
    if wanted and properties is None:
        properties = etree.Element(_qualified(namespace, "properties"))
        _insert_properties(component, properties, namespace)
    for field, value in wanted:
        prop = etree.SubElement(
            cast(_Element, properties),
            _qualified(namespace, "property"),
            {"name": field.property_name},
        )
        try:
            prop.text = value
        except ValueError:
            raise UsageError(
                f"the {field.value.replace('_', ' ')} {value!r} holds characters XML cannot carry"
            ) from None
    if properties is not None and not any(isinstance(c.tag, str) for c in properties):
        component.remove(properties)


def _qualified(namespace: str | None, name: str) -> str:
    return f"{{{namespace}}}{name}" if namespace else name


def _insert_properties(component: _Element, properties: _Element, namespace: str | None) -> None:
    """Insert ``<properties>`` before the first child the schema puts after it."""
    for index, child in enumerate(component):
        if not isinstance(child.tag, str):
            continue
        if _local(child) in _XML_AFTER_PROPERTIES or _namespace(child) != namespace:
            component.insert(index, properties)
            return
    component.append(properties)


# -- SPDX JSON -----------------------------------------------------------------------------


def _spdx_json(data: bytes, records: Records, *, at: datetime, tool: str) -> bytes:
    document = cast(dict[str, Any], load_json_object(data, None))
    version = spdx_version(document.get("spdxVersion"), None)
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    found: set[str] = set()
    for raw, ref in spdx_package_refs(document):
        if ref in records:
            _spdx_package(cast(dict[str, Any], raw), records[ref], stamp, tool)
            found.add(ref)
    _check_found(records, found)
    if version == "2.2":
        document["spdxVersion"] = "SPDX-2.3"
    return _dump_json(document)


def _is_support_annotation(annotation: Any) -> bool:
    return (
        isinstance(annotation, Mapping)
        and isinstance(annotation.get("comment"), str)
        and annotation_property(annotation["comment"]) is not None
    )


def _spdx_package(
    package: dict[str, Any], record: SupportAnnotation | None, stamp: str, tool: str
) -> None:
    if record is not None and record.end_of_support is not None:
        package["validUntilDate"] = f"{record.end_of_support.isoformat()}T00:00:00Z"
    else:
        package.pop("validUntilDate", None)
    existing = package.get("annotations")
    kept = (
        [a for a in existing if not _is_support_annotation(a)] if isinstance(existing, list) else []
    )
    for field, value in record.fields() if record else ():
        if field is SupportField.END_OF_SUPPORT:
            continue  # validUntilDate carries it
        kept.append(
            {
                "annotationDate": stamp,
                "annotationType": "OTHER",
                "annotator": f"Tool: {tool}",
                "comment": annotation_comment(field, value),
            }
        )
    if kept:
        package["annotations"] = kept
    else:
        package.pop("annotations", None)
