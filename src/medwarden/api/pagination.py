"""Keyset (cursor) pagination for every list route: ``limit``, ``cursor``, ``Link``.

A list route declares ``page: Pagination``; it asks its store for ``page.limit + 1``
rows *after* the position the cursor names (``page.after(...)``; ``None`` on the first
page), in the route's fixed order, and returns :func:`paginate` of them::

    @router.get("/things", response_model=Page[ThingOut])
    def list_things(page: Pagination, store: StoreDep, _: ...) -> Page[ThingOut]:
        after = page.after(str)                       # (name,) or None
        rows = store.things(after=after and after[0], limit=page.limit + 1)
        return paginate(rows, page, key=lambda t: (t.name,), convert=ThingOut.of)

The cursor is opaque to clients: URL-safe base64 of a JSON array holding the sort key
of the last item returned.  It is not signed, because it grants nothing: it only says
where to continue, and every page is filtered by the caller's permissions again.
A cursor that does not decode to the shape the route expects is a 400 problem.
Keyset pagination stays fast at any depth and never skips or repeats an item when
rows are added between pages (unlike ``OFFSET``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Query, Request, Response

from medwarden.api.schemas.common import Page
from medwarden.errors import UsageError

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "PageRequest",
    "Pagination",
    "Position",
    "decode_cursor",
    "encode_cursor",
    "page_request",
    "paginate",
]

DEFAULT_LIMIT = 50
"""Items per page when the client does not say."""

MAX_LIMIT = 500
"""The most items one page may hold."""

_MAX_CURSOR = 512

Position = tuple[str | int, ...]
"""A sort key: the values of the route's ordering columns for one item."""

R = TypeVar("R")
M = TypeVar("M")


def encode_cursor(position: Position) -> str:
    """The opaque cursor of ``position``."""
    return base64.urlsafe_b64encode(orjson.dumps(list(position))).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; a malformed cursor is a :class:`UsageError` (HTTP 400)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise UsageError("the cursor is not one this API handed out") from None
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values)
    ):
        raise UsageError("the cursor is not one this API handed out")
    return tuple(values)


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What the client asked for: ``limit`` items after ``position`` (``None``: from the start)."""

    limit: int
    position: Position | None
    url: str = field(repr=False)
    response: Response = field(repr=False, compare=False)

    def after(self, *types: type[str] | type[int]) -> Position | None:
        """The cursor's position, checked to hold values of ``types`` (e.g. ``after(int)``)."""
        if self.position is None:
            return None
        if len(self.position) != len(types) or not all(
            isinstance(value, kind) for value, kind in zip(self.position, types, strict=True)
        ):
            raise UsageError("the cursor does not belong to this list")
        return self.position


def page_request(
    request: Request,
    response: Response,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (1-{MAX_LIMIT}).")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            max_length=_MAX_CURSOR,
            description="The next_cursor of the previous page; leave out for the first page.",
        ),
    ] = None,
) -> PageRequest:
    """The dependency behind :data:`Pagination`."""
    position = None if cursor is None else decode_cursor(cursor)
    return PageRequest(limit=limit, position=position, url=str(request.url), response=response)


Pagination = Annotated[PageRequest, Depends(page_request)]
"""Declare ``page: Pagination`` in a list route to get ``limit``/``cursor`` handling."""


def paginate(
    rows: Sequence[R],
    page: PageRequest,
    *,
    key: Callable[[R], Position],
    convert: Callable[[R], M],
) -> Page[M]:
    """The page envelope of ``rows`` (fetched as up to ``limit + 1``), with the ``Link`` header.

    If there are more than ``limit`` rows, the extra one only proves a next page
    exists; the next cursor is the key of the last row returned."""
    shown = list(rows[: page.limit])
    next_cursor = None
    if len(rows) > page.limit and shown:
        next_cursor = encode_cursor(key(shown[-1]))
        page.response.headers["Link"] = f'<{_with_cursor(page.url, next_cursor)}>; rel="next"'
    items: list[Any] = [convert(row) for row in shown]
    return Page[Any](items=items, next_cursor=next_cursor)


def _with_cursor(url: str, cursor: str) -> str:
    from starlette.datastructures import URL

    return str(URL(url).include_query_params(cursor=cursor))
