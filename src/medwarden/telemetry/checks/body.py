"""Fail-closed reading of record bodies (keys and units per ``docs/telemetry.md``).

Each accessor returns the value of a body key or raises :class:`BodyError` when a required
key is missing or any key has the wrong type.  :func:`parse_each` runs a parser over the
records a check needs and turns every :class:`BodyError` into a ``check_error`` candidate
naming the record, so that a malformed record is reported instead of silently skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TypeVar

from medwarden.errors import InputError, Location
from medwarden.telemetry.checks.base import CHECK_ERROR, Candidate, Severity, StoredRecord
from medwarden.telemetry.records import JsonObject

__all__ = [
    "BodyError",
    "check_error",
    "choice",
    "number",
    "optional_number",
    "parse_each",
    "text",
]

T = TypeVar("T")


class BodyError(InputError):
    """A record body lacks a key a check needs, or holds a key with the wrong type."""


def _error(key: str, problem: str) -> BodyError:
    return BodyError(f"body key {key!r} {problem}", location=Location(pointer=f"/body/{key}"))


def optional_number(body: JsonObject, key: str) -> float | None:
    """Return the finite number at ``key``, ``None`` when absent; refuse other types."""
    value = body.get(key)
    if value is None and key not in body:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _error(key, f"must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise _error(key, "must be finite")
    return float(value)


def number(body: JsonObject, key: str, *, minimum: float | None = 0.0) -> float:
    """Return the required number at ``key`` (at least ``minimum`` unless that is None)."""
    value = optional_number(body, key)
    if value is None:
        raise _error(key, "is missing")
    if minimum is not None and value < minimum:
        raise _error(key, f"must be at least {minimum:g}, not {value:g}")
    return value


def text(body: JsonObject, key: str) -> str:
    """Return the required non-empty text at ``key``."""
    value = body.get(key)
    if key not in body:
        raise _error(key, "is missing")
    if not isinstance(value, str) or not value.strip():
        raise _error(key, f"must be non-empty text, not {value!r}")
    return value


def choice(body: JsonObject, key: str, allowed: Iterable[str], default: str | None = None) -> str:
    """Return the text at ``key`` when it is one of ``allowed``; ``default`` when absent."""
    options = sorted(allowed)
    if key not in body and default is not None:
        return default
    value = text(body, key)
    if value not in options:
        raise _error(key, f"must be one of {', '.join(options)}, not {value!r}")
    return value


def check_error(stored: StoredRecord, problem: str) -> Candidate:
    """A ``check_error`` candidate: the check could not evaluate ``stored``."""
    return Candidate(
        CHECK_ERROR,
        Severity.HIGH,
        (stored,),
        f"cannot evaluate {stored.label()}: {problem}",
        decided_by=stored,
    )


def parse_each(
    records: Iterable[StoredRecord], parse: Callable[[StoredRecord], T]
) -> tuple[list[tuple[StoredRecord, T]], list[Candidate]]:
    """Parse every record; return the parsed pairs and a check_error per malformed record."""
    parsed: list[tuple[StoredRecord, T]] = []
    errors: list[Candidate] = []
    for stored in records:
        try:
            parsed.append((stored, parse(stored)))
        except BodyError as exc:
            errors.append(check_error(stored, exc.message))
    return parsed, errors
