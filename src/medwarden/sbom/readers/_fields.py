"""Lenient access to fields of parsed documents, recording every problem as an issue.

Documents arrive as untrusted JSON-shaped values (dicts, lists, strings, numbers);
readers go through these functions so that a wrong type becomes a
:class:`ValidationIssue` at a JSON pointer instead of a ``KeyError`` or ``TypeError``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from packageurl import PackageURL

from medwarden.core.timestamps import parse_timestamp
from medwarden.errors import Location, SbomParseError
from medwarden.sbom.model import IssueSeverity, ValidationIssue

__all__ = ["IssueLog", "RefFactory", "as_list", "as_mapping", "refuse_if_unusable", "text"]


class IssueLog:
    """Collects the issues found while building an SBOM from a document."""

    def __init__(self) -> None:
        self.issues: list[ValidationIssue] = []

    def error(self, message: str, pointer: str | None = None, line: int | None = None) -> None:
        """Record a problem that made medwarden drop or ignore part of the document."""
        self.issues.append(ValidationIssue(message, pointer=pointer, line=line))

    def warning(self, message: str, pointer: str | None = None) -> None:
        """Record advice: the document is usable but not as it should be."""
        self.issues.append(ValidationIssue(message, pointer, severity=IssueSeverity.WARNING))

    def timestamp(self, value: Any, pointer: str) -> datetime | None:
        """Parse an ISO 8601 timestamp, or record why it cannot be used."""
        raw = text(value)
        if raw is None:
            return None
        try:
            return parse_timestamp(raw)
        except ValueError:
            self.error(f"timestamp {raw!r} is not ISO 8601; ignored", pointer)
            return None

    def purl(self, value: Any, pointer: str) -> str | None:
        """Return the Package URL as written; record a warning when it is malformed.

        A malformed purl is kept, not dropped: matching then reports the component as
        ``malformed-purl`` (and falls back to its CPEs) instead of treating it as a
        component that never had a purl."""
        raw = text(value)
        if raw is None:
            return None
        try:
            PackageURL.from_string(raw)
        except ValueError as exc:
            self.warning(f"malformed package URL {raw!r}: {exc}", pointer)
        return raw


def text(value: Any) -> str | None:
    """Return ``value`` stripped if it is a non-empty string, else ``None``."""
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    return None


def as_list(value: Any, pointer: str, log: IssueLog) -> list[Any]:
    """Return ``value`` if it is a list; record an issue and return ``[]`` otherwise."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    log.error(f"expected an array, found {type(value).__name__}; ignored", pointer)
    return []


def as_mapping(value: Any, pointer: str, log: IssueLog) -> Mapping[str, Any]:
    """Return ``value`` if it is an object; record an issue and return ``{}`` otherwise."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    log.error(f"expected an object, found {type(value).__name__}; ignored", pointer)
    return {}


class RefFactory:
    """Hands out document-local refs, synthesising stable ones for components without.

    A synthetic ref is derived from the component's own content, so the same
    document always yields the same refs; duplicates get a counter suffix.
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def ref(self, given: str | None, content: Any, pointer: str, log: IssueLog) -> str:
        """Return ``given`` (warning on duplicates) or a synthetic content-derived ref."""
        if given is not None:
            if given in self._seen:
                log.warning(f"duplicate ref {given!r}", pointer)
            self._seen.add(given)
            return given
        try:
            digest = hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS))
        except (TypeError, orjson.JSONEncodeError):
            digest = hashlib.sha256(repr(content).encode())
        base = f"medwarden:ref:{digest.hexdigest()[:16]}"
        candidate, counter = base, 1
        while candidate in self._seen:
            counter += 1
            candidate = f"{base}-{counter}"
        self._seen.add(candidate)
        return candidate


def refuse_if_unusable(
    raw: Any, kept: int, skipped: int, log: IssueLog, *, what: str, source: str | None
) -> None:
    """Raise :class:`SbomParseError` when the document lists ``what`` but none is usable.

    A document that simply lists none gets a warning: empty, but never silently so.
    """
    pointer = f"/{what}"
    broken = skipped > 0 or (raw is not None and not isinstance(raw, list))
    if kept or not broken:
        if not kept:
            log.warning(f"the document lists no {what}", pointer)
        return
    raise SbomParseError(
        f"no usable entry in {pointer}",
        location=Location(source=source, pointer=pointer),
        details=tuple(str(i) for i in log.issues[:20]),
        hint="each entry needs an object with a string name (and a string version, if any)",
    )
