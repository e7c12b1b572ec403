"""Readers of VEX documents: CycloneDX VEX (JSON and XML) and OpenVEX (JSON).

:func:`read_vex_file` recognises the format from the content and returns the
document's statements; malformed input raises :class:`~medwarden.errors.VexError`
located by JSON pointer (or XML element path).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medwarden.errors import InputTooLargeError, Location, VexError
from medwarden.vex.io.cyclonedx_vex import parse_cyclonedx_vex, parse_cyclonedx_vex_xml
from medwarden.vex.io.openvex import parse_openvex
from medwarden.vex.model import VexStatement

__all__ = ["MAX_VEX_BYTES", "parse_vex_bytes", "read_vex_file"]

MAX_VEX_BYTES = 64 * 1024 * 1024
"""VEX documents larger than this are refused unread."""


def read_vex_file(path: str | Path) -> tuple[VexStatement, ...]:
    """Read the VEX document at ``path`` (CycloneDX JSON/XML or OpenVEX JSON)."""
    file = Path(path)
    source = str(path)
    try:
        size = file.stat().st_size
        if size > MAX_VEX_BYTES:
            raise InputTooLargeError(
                f"VEX document is {size} bytes; the limit is {MAX_VEX_BYTES}",
                location=Location(source=source),
            )
        data = file.read_bytes()
    except OSError as exc:
        raise VexError(
            f"cannot read VEX document: {exc.strerror or exc}", location=Location(source=source)
        ) from exc
    return parse_vex_bytes(data, source=source)


def parse_vex_bytes(data: bytes, *, source: str) -> tuple[VexStatement, ...]:
    """Parse a VEX document from bytes; ``source`` names it in statements and errors."""
    head = data.lstrip()[:1]
    if head == b"<":
        return parse_cyclonedx_vex_xml(data, source=source)
    try:
        document: Any = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise VexError(
            f"VEX document is not well-formed JSON: {exc}",
            location=Location(source=source, line=line),
        ) from exc
    if isinstance(document, dict) and document.get("bomFormat") == "CycloneDX":
        return parse_cyclonedx_vex(document, source=source)
    if isinstance(document, dict) and "statements" in document:
        return parse_openvex(document, source=source)
    raise VexError(
        "not a VEX document: expected CycloneDX (bomFormat) or OpenVEX (statements)",
        location=Location(source=source, pointer=""),
        hint="medwarden reads CycloneDX VEX (JSON or XML) and OpenVEX JSON",
    )
