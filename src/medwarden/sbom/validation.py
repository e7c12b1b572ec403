"""Schema validation of SBOM documents against their official schemas, fully offline.

* CycloneDX JSON: the JSON schema of the document's ``specVersion`` as shipped by
  cyclonedx-python-lib (``cyclonedx/schema/_res``); the SPDX licence and JSF signature
  schemas it references are registered locally, so no ``$ref`` ever reaches the network.
* CycloneDX XML: the XSD of the document's version, through lxml, with entity
  resolution and network access off.  Only called after defusedxml accepted the bytes.
* SPDX JSON: the official SPDX 2.3 JSON schema shipped in ``medwarden/data/schemas``.

Compiled validators are cached per version: compiling the 1.6 schema costs far more
than validating a thousand components with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import cyclonedx.schema._res as cyclonedx_schemas
import orjson
from jsonschema import Draft7Validator, validators
from jsonschema._keywords import uniqueItems as _quadratic_unique_items
from jsonschema.exceptions import ValidationError as JsonSchemaError
from lxml import etree
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from medwarden.errors import Location, SbomSchemaError
from medwarden.sbom.model import IssueSeverity, ValidationIssue

__all__ = [
    "CYCLONEDX_VERSIONS",
    "SPDX_VERSIONS",
    "raise_if_strict",
    "validate_cyclonedx_json",
    "validate_cyclonedx_xml",
    "validate_spdx_json",
]

CYCLONEDX_VERSIONS = ("1.2", "1.3", "1.4", "1.5", "1.6")
"""CycloneDX specification versions medwarden reads and validates."""

SPDX_VERSIONS = ("2.2", "2.3")
"""SPDX specification versions medwarden reads and validates."""

_CDX_RES = Path(cyclonedx_schemas.__file__).parent
# Files the CycloneDX JSON schemas reference by relative "$ref".
_CDX_SIDE_SCHEMAS = ("spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json")
_MAX_ISSUES = 200


def _unique_items(
    validator: Any, unique: bool, instance: Any, schema: Any
) -> Iterator[JsonSchemaError]:
    """``uniqueItems`` in linear time: jsonschema compares arrays of objects pairwise,
    which takes seconds on a thousand components.  Items are compared by canonical
    JSON (so ``1`` and ``1.0`` count as different, unlike jsonschema's comparison)."""
    if not unique or not validator.is_type(instance, "array"):
        return
    try:
        keys = [orjson.dumps(item, option=orjson.OPT_SORT_KEYS) for item in instance]
    except (TypeError, orjson.JSONEncodeError):
        yield from _quadratic_unique_items(validator, unique, instance, schema)
        return
    if len(set(keys)) != len(keys):
        yield JsonSchemaError("array has non-unique elements")


_Validator = validators.extend(Draft7Validator, {"uniqueItems": _unique_items})


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _cyclonedx_json_validator(version: str) -> Any:
    schema = _load_json(_CDX_RES / f"bom-{version}.SNAPSHOT.schema.json")
    base = schema["$id"].rsplit("/", 1)[0]
    registry: Registry[Any] = Registry()
    for name in _CDX_SIDE_SCHEMAS:
        resource = Resource.from_contents(_load_json(_CDX_RES / name), default_specification=DRAFT7)
        # Register under the relative name resolved against the bom schema's $id and
        # under the side schema's own $id; neither lookup may go to the network.
        registry = registry.with_resources(
            [(f"{base}/{name}", resource), (resource.id() or name, resource)]
        )
    return _Validator(schema, registry=registry)


@cache
def _spdx_json_validator() -> Any:
    # The SPDX 2.3 schema is used for SPDX 2.2 documents too: 2.3 only added optional
    # fields and relationship types, so a valid 2.2 document is valid against it.
    text = (
        resources.files("medwarden")
        .joinpath("data", "schemas", "spdx-schema-2.3.json")
        .read_text(encoding="utf-8")
    )
    return _Validator(json.loads(text), registry=Registry())


@cache
def _cyclonedx_xsd(version: str) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    document = etree.parse(str(_CDX_RES / f"bom-{version}.SNAPSHOT.xsd"), parser=parser)
    return etree.XMLSchema(document)


def _pointer(path: Sequence[str | int]) -> str:
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in path)
    return "".join(f"/{p}" for p in escaped)


def _document_order(error: JsonSchemaError) -> list[tuple[int, int, str]]:
    return [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path]


def _json_issues(validator: Any, document: Any) -> tuple[ValidationIssue, ...]:
    errors: Iterator[JsonSchemaError] = validator.iter_errors(document)
    found = []
    for error in errors:
        found.append(error)
        if len(found) >= _MAX_ISSUES:
            break
    found.sort(key=_document_order)
    return tuple(
        ValidationIssue(_short(e.message), pointer=_pointer(e.absolute_path)) for e in found
    )


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


def validate_cyclonedx_json(document: Any, spec_version: str) -> tuple[ValidationIssue, ...]:
    """Validate a parsed CycloneDX JSON document against the schema of ``spec_version``."""
    return _json_issues(_cyclonedx_json_validator(spec_version), document)


def validate_spdx_json(document: Any) -> tuple[ValidationIssue, ...]:
    """Validate a parsed SPDX 2.2/2.3 JSON document against the SPDX 2.3 JSON schema."""
    return _json_issues(_spdx_json_validator(), document)


def validate_cyclonedx_xml(data: bytes, spec_version: str) -> tuple[ValidationIssue, ...]:
    """Validate CycloneDX XML bytes (already accepted by defusedxml) against its XSD."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        return (ValidationIssue(_short(str(exc)), line=exc.lineno),)
    except (LookupError, ValueError) as exc:  # e.g. an encoding libxml2 does not know
        return (ValidationIssue(_short(f"XML schema validation impossible: {exc}")),)
    schema = _cyclonedx_xsd(spec_version)
    if schema.validate(root):
        return ()
    entries = [(e.message, e.line) for e in schema.error_log]  # type: ignore[attr-defined]
    return tuple(ValidationIssue(_short(m), line=n) for m, n in entries[:_MAX_ISSUES])


def raise_if_strict(
    issues: Sequence[ValidationIssue], *, strict: bool, source: str | None, schema: str
) -> None:
    """In strict mode, raise :class:`SbomSchemaError` if any issue is an error."""
    errors = [i for i in issues if i.severity is IssueSeverity.ERROR]
    if not strict or not errors:
        return
    first = errors[0]
    raise SbomSchemaError(
        f"the SBOM violates the {schema} schema ({len(errors)} issue(s))",
        location=Location(source=source, pointer=first.pointer, line=first.line),
        details=tuple(str(i) for i in errors),
        hint="fix the document or read it without strict mode to load what is usable",
    )
