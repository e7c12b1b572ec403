"""Reading SBOMs: detect the format from the content and hand over to its reader.

This is the public entry point for SBOM input; callers never pick a reader
themselves.  Every failure is an :class:`medwarden.errors.SbomError` (or
:class:`~medwarden.errors.InputTooLargeError` for oversized files).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import orjson

from medwarden.errors import (
    InputError,
    InputTooLargeError,
    Location,
    SbomFormatError,
    SbomParseError,
)
from medwarden.sbom.model import SbomFormat, SbomReadResult
from medwarden.sbom.readers import READERS

__all__ = [
    "DEFAULT_MAX_SBOM_BYTES",
    "detect_format",
    "read_limited",
    "read_sbom",
    "read_sbom_file",
]

DEFAULT_MAX_SBOM_BYTES = 256 * 1024 * 1024
"""Largest SBOM file read by default (256 MiB)."""

_SPDX_TAG = re.compile(rb"^\s*SPDXVersion\s*:", re.MULTILINE)
_HEAD = 64 * 1024


def _json_format(data: bytes, source: str | None) -> SbomFormat:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return SbomFormat.CYCLONEDX_JSON  # its reader reports the syntax error precisely
    if isinstance(document, dict) and "spdxVersion" in document:
        return SbomFormat.SPDX_JSON
    if isinstance(document, dict) and "bomFormat" in document:
        return SbomFormat.CYCLONEDX_JSON
    raise SbomFormatError(
        "JSON document is neither CycloneDX (bomFormat) nor SPDX (spdxVersion)",
        location=Location(source=source, pointer=""),
        hint="SPDX 3 and other formats are not supported",
    )


def detect_format(data: bytes, *, source: str | None = None) -> SbomFormat:
    """Return the format of an SBOM from its content; raise on empty or unknown input."""
    stripped = data.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not stripped:
        raise SbomParseError("the document is empty", location=Location(source=source))
    if stripped.startswith((b"{", b"[")):
        return _json_format(stripped, source)
    if stripped.startswith(b"<"):
        return SbomFormat.CYCLONEDX_XML
    if _SPDX_TAG.search(stripped[:_HEAD]):
        return SbomFormat.SPDX_TAG_VALUE
    raise SbomFormatError(
        "not a CycloneDX (JSON/XML) or SPDX (JSON/tag-value) document",
        location=Location(source=source),
    )


def read_sbom(data: bytes, *, source: str | None = None, strict: bool = False) -> SbomReadResult:
    """Read an SBOM of any supported format and specification version from ``data``.

    Schema violations are returned as issues; with ``strict=True`` they raise
    :class:`~medwarden.errors.SbomSchemaError` instead.
    """
    sbom_format = detect_format(data, source=source)
    return READERS[sbom_format].read(data, source=source, strict=strict)


def read_sbom_file(
    path: Path, *, strict: bool = False, max_bytes: int = DEFAULT_MAX_SBOM_BYTES
) -> SbomReadResult:
    """Read the SBOM at ``path``, refusing files over ``max_bytes`` before reading them."""
    data = read_limited(path, max_bytes=max_bytes)
    return read_sbom(data, source=str(path), strict=strict)


def read_limited(
    path: Path,
    *,
    max_bytes: int = DEFAULT_MAX_SBOM_BYTES,
    unreadable: type[InputError] = SbomParseError,
) -> bytes:
    """The bytes of the file at ``path``; a file over ``max_bytes`` is refused unread,
    one that cannot be opened raises ``unreadable``."""
    source = str(path)
    try:
        with path.open("rb") as stream:
            size = _size(stream.fileno())
            if size is not None and size > max_bytes:
                raise _too_large(source, max_bytes, size)
            data = stream.read(max_bytes + 1)
    except OSError as exc:
        raise unreadable(
            f"cannot read {source}: {exc.strerror or exc}", location=Location(source=source)
        ) from exc
    if len(data) > max_bytes:
        raise _too_large(source, max_bytes, None)
    return data


def _size(fileno: int) -> int | None:
    info = os.fstat(fileno)
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _too_large(source: str, max_bytes: int, size: int | None) -> InputTooLargeError:
    found = f"{size} bytes" if size is not None else "more"
    return InputTooLargeError(
        f"the file is larger than the limit of {max_bytes} bytes ({found}); it was not read",
        location=Location(source=source),
        hint="raise the limit (max_bytes) if this document is expected to be this large",
    )
