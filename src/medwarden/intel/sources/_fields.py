"""Typed access to decoded JSON with located errors, shared by the source parsers.

Every helper checks one field of one JSON object and raises
:class:`~medwarden.errors.IntelParseError` whose location is the file (``origin``)
and the JSON pointer of the offending value.  The fast path is a single ``type()``
check; the pointer string is only built when something is wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from medwarden.core.timestamps import parse_timestamp
from medwarden.errors import IntelParseError, Location

__all__ = [
    "UNKNOWN_TIME",
    "Ctx",
    "load_json",
    "opt_bool",
    "opt_float",
    "opt_list",
    "opt_obj",
    "opt_str",
    "opt_time",
    "req_obj",
    "req_str",
    "req_time",
    "str_list",
]

UNKNOWN_TIME = datetime(1, 1, 1, tzinfo=UTC)
"""Stand-in for a record that states no modification time (Go vulndb uses the same)."""


def _escape(key: str | int) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


class Ctx:
    """The file a record is read from; makes located :class:`IntelParseError` values."""

    __slots__ = ("origin",)

    def __init__(self, origin: str | None) -> None:
        self.origin = origin

    def error(self, pointer: str, message: str, key: str | int | None = None) -> IntelParseError:
        """Return an error at ``pointer`` (plus ``key``, if given) in this context's file."""
        where = pointer if key is None else f"{pointer}/{_escape(key)}"
        return IntelParseError(message, location=Location(source=self.origin, pointer=where))


def load_json(data: bytes, ctx: Ctx) -> Any:
    """Decode JSON bytes; malformed JSON raises :class:`IntelParseError` with a line."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise IntelParseError(
            f"not well-formed JSON: {exc.msg}",
            location=Location(source=ctx.origin, line=exc.lineno, column=exc.colno),
        ) from None


def req_obj(value: Any, ctx: Ctx, pointer: str) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object, else raise."""
    if type(value) is dict:
        return value
    raise ctx.error(pointer, f"expected an object, found {_kind(value)}")


def opt_obj(obj: dict[str, Any], key: str, ctx: Ctx, pointer: str) -> dict[str, Any]:
    """Return the object at ``key``; a missing or null field gives ``{}``."""
    value = obj.get(key)
    if type(value) is dict:
        return value
    if value is None:
        return {}
    raise ctx.error(pointer, f"expected an object, found {_kind(value)}", key)


def req_str(obj: dict[str, Any], key: str, ctx: Ctx, pointer: str) -> str:
    """Return the non-empty string at ``key``, else raise."""
    value = obj.get(key)
    if type(value) is str and value:
        return value
    if value is None:
        raise ctx.error(pointer, f"required field {key!r} is missing", key)
    raise ctx.error(pointer, f"expected a non-empty string, found {_kind(value)}", key)


def opt_str(obj: dict[str, Any], key: str, ctx: Ctx, pointer: str) -> str | None:
    """Return the string at ``key`` or ``None`` when absent, null or empty."""
    value = obj.get(key)
    if type(value) is str:
        return value or None
    if value is None:
        return None
    raise ctx.error(pointer, f"expected a string, found {_kind(value)}", key)


def opt_list(obj: dict[str, Any], key: str, ctx: Ctx, pointer: str) -> list[Any]:
    """Return the array at ``key``; a missing or null field gives ``[]``."""
    value = obj.get(key)
    if type(value) is list:
        return value
    if value is None:
        return []
    raise ctx.error(pointer, f"expected an array, found {_kind(value)}", key)


def str_list(obj: dict[str, Any], key: str, ctx: Ctx, pointer: str) -> tuple[str, ...]:
    """Return the array of strings at ``key`` as a tuple (missing gives ``()``)."""
    items = opt_list(obj, key, ctx, pointer)
    for index, item in enumerate(items):
        if type(item) is not str:
            raise ctx.error(f"{pointer}/{key}", f"expected a string, found {_kind(item)}", index)
    return tuple(items)


def opt_bool(obj: dict[str, Any], key: str, default: bool, ctx: Ctx, pointer: str) -> bool:
    """Return the boolean at ``key`` or ``default`` when absent."""
    value = obj.get(key)
    if value is True or value is False:
        return value
    if value is None:
        return default
    raise ctx.error(pointer, f"expected a boolean, found {_kind(value)}", key)


def opt_float(obj: dict[str, Any], key: str, ctx: Ctx, pointer: str) -> float | None:
    """Return the number at ``key`` as a float, or ``None`` when absent."""
    value = obj.get(key)
    if type(value) is float or type(value) is int:
        return float(value)
    if value is None:
        return None
    raise ctx.error(pointer, f"expected a number, found {_kind(value)}", key)


def opt_time(obj: dict[str, Any], key: str, ctx: Ctx, pointer: str) -> datetime | None:
    """Return the timestamp at ``key`` as an aware UTC datetime, or ``None`` when absent."""
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is not str:
        raise ctx.error(pointer, f"expected a timestamp string, found {_kind(value)}", key)
    try:
        return parse_timestamp(value)
    except ValueError:
        raise ctx.error(pointer, f"not an ISO 8601 timestamp: {value[:40]!r}", key) from None


def req_time(obj: dict[str, Any], key: str, ctx: Ctx, pointer: str) -> datetime:
    """Return the timestamp at ``key``, else raise."""
    value = opt_time(obj, key, ctx, pointer)
    if value is None:
        raise ctx.error(pointer, f"required timestamp {key!r} is missing", key)
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string" if value else "an empty string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def reference_urls(items: list[Any], ctx: Ctx, pointer: str) -> tuple[str, ...]:
    """The distinct ``url`` of each ``{"url": ...}`` reference (NVD and OSV share the shape)."""
    urls: dict[str, None] = {}
    for index, item in enumerate(items):
        url = item.get("url") if type(item) is dict else None
        if type(url) is not str or not url:
            where = f"{pointer}/references/{index}"
            url = req_str(req_obj(item, ctx, where), "url", ctx, where)
        urls[url] = None
    return tuple(urls)
