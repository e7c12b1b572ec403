"""Typed field access on parsed VEX JSON, raising :class:`VexError` with a JSON pointer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from medwarden.core.timestamps import parse_timestamp
from medwarden.errors import Location, VexError

__all__ = ["Cursor"]


class Cursor:
    """A position in a JSON document: the value there, its pointer and the document name."""

    __slots__ = ("pointer", "source", "value")

    def __init__(self, value: Any, source: str, pointer: str = "") -> None:
        self.value = value
        self.source = source
        self.pointer = pointer

    def error(self, message: str, key: str | int | None = None) -> VexError:
        """Return a :class:`VexError` located at this position (or at ``key`` below it)."""
        pointer = self.pointer if key is None else f"{self.pointer}/{key}"
        return VexError(message, location=Location(source=self.source, pointer=pointer))

    def child(self, key: str | int, value: Any) -> Cursor:
        """Return a cursor one level down."""
        return Cursor(value, self.source, f"{self.pointer}/{key}")

    def obj(self) -> dict[str, Any]:
        """Return the value as an object, or raise."""
        if not isinstance(self.value, dict):
            raise self.error(f"expected an object, found {type(self.value).__name__}")
        return self.value

    def get(self, key: str) -> Cursor | None:
        """Return the cursor of member ``key``, or ``None`` when absent or null."""
        value = self.obj().get(key)
        return None if value is None else self.child(key, value)

    def need(self, key: str) -> Cursor:
        """Return the cursor of a required member ``key``."""
        found = self.get(key)
        if found is None:
            raise self.error(f"required member {key!r} is missing", key)
        return found

    def items(self) -> list[Cursor]:
        """Return cursors over the value's array items."""
        if not isinstance(self.value, list):
            raise self.error(f"expected an array, found {type(self.value).__name__}")
        return [self.child(i, v) for i, v in enumerate(self.value)]

    def text(self) -> str:
        """Return the value as a non-empty string, or raise."""
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.error("expected a non-empty string")
        return self.value.strip()

    def opt_text(self, key: str) -> str | None:
        """Return member ``key`` as a string, or ``None`` when absent."""
        found = self.get(key)
        return None if found is None else found.text()

    def opt_time(self, key: str) -> datetime | None:
        """Return member ``key`` as an aware UTC datetime, or ``None`` when absent."""
        found = self.get(key)
        if found is None:
            return None
        try:
            return parse_timestamp(found.text())
        except ValueError as exc:
            raise found.error(f"not a timestamp: {exc}") from exc
