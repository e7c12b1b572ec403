"""Strict JSON decoding of SBOM bytes, with line and column on failure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from medwarden.errors import Location, SbomParseError

__all__ = ["MAX_DEPTH", "load_json_object"]

_UTF8_BOM = b"\xef\xbb\xbf"

MAX_DEPTH = 200
"""Deepest nesting of arrays/objects (or XML elements) accepted; about 100 levels of
nested components.  Deeper documents are refused rather than risk recursion limits."""


def load_json_object(data: bytes, source: str | None) -> Mapping[str, Any]:
    """Decode ``data`` as one JSON object; raise :class:`SbomParseError` otherwise."""
    payload = data.removeprefix(_UTF8_BOM)
    if not payload.strip():
        raise SbomParseError("the document is empty", location=Location(source=source))
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise SbomParseError(
            f"not well-formed JSON: {exc.msg}",
            location=Location(source=source, line=exc.lineno, column=exc.colno),
            hint="the file may be truncated or not JSON at all",
        ) from exc
    if not isinstance(document, dict):
        raise SbomParseError(
            f"the JSON document is a {type(document).__name__}, not an object",
            location=Location(source=source, pointer=""),
        )
    if _depth(document) > MAX_DEPTH:
        raise SbomParseError(
            f"the JSON document is nested deeper than {MAX_DEPTH} levels",
            location=Location(source=source),
        )
    return document


def _depth(document: Any) -> int:
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(value, dict):
            stack.extend((v, level + 1) for v in value.values() if isinstance(v, dict | list))
        elif isinstance(value, list):
            stack.extend((v, level + 1) for v in value if isinstance(v, dict | list))
    return deepest
