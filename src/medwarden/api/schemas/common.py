"""DTOs every router shares: the RFC 9457 problem body and the page envelope."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Page", "Problem", "ValidationIssue"]

T = TypeVar("T")


class ValidationIssue(BaseModel):
    """One reason a request was refused by validation (the input is never echoed)."""

    loc: list[str | int] = Field(description="Where: e.g. ['body', 'roles', 0].")
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem detail (``application/problem+json``), plus medwarden's ``code``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="urn:medwarden:problem:<code> (see docs/errors.md).")
    title: str = Field(description="The HTTP status phrase.")
    status: int
    detail: str | None = None
    instance: str | None = Field(default=None, description="The request path.")
    code: str = Field(description="The stable medwarden error code, e.g. MW501.")
    hint: str | None = None
    errors: list[ValidationIssue] | None = None


class Page(BaseModel, Generic[T]):
    """One page of a list: the items and the cursor of the next page (``null`` at the end).

    The same next-page URL is also sent as ``Link: <...>; rel="next"``."""

    items: list[T]
    next_cursor: str | None = None
