"""Chunking of key lists so no statement exceeds the bound-parameter budget."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TypeVar

__all__ = ["CHUNK", "chunked", "unique"]

CHUNK = 500
"""Keys per ``IN`` list: composite keys use two parameters each, far below SQLite's limit."""

T = TypeVar("T")


def chunked(items: Iterable[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Yield consecutive lists of at most ``size`` items."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def unique(items: Iterable[T]) -> list[T]:
    """Return ``items`` without duplicates, first occurrence order kept."""
    return list(dict.fromkeys(items))
