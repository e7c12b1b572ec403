"""RFC 9457 problem details for every error the API returns, mapped in this one module.

Every error response is ``application/problem+json``::

    {"type": "urn:medwarden:problem:MW003", "title": "Not Found", "status": 404,
     "detail": "there is no user 'bob'", "instance": "/api/v1/users/bob", "code": "MW003"}

``code`` is the stable medwarden error code (``docs/errors.md``); ``type`` is a URN
built from it (problem types are identified, not resolved); ``title`` is the HTTP
status phrase; ``hint`` and ``errors`` are added when there is something to say.
:data:`STATUS_BY_ERROR` is the one mapping from the error tree to HTTP statuses.

Server-side failures (a database error, a bug) say only what kind of failure it was:
their messages can name hosts and paths and are logged instead.  Validation errors
list where and why, but never echo the input (it may be a password).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from medwarden.api.schemas.common import Problem
from medwarden.errors import (
    AccessError,
    AuthenticationError,
    ConfigError,
    ConflictError,
    InputError,
    InputTooLargeError,
    MedwardenError,
    NotFoundError,
    PermissionDeniedError,
    RuleViolationError,
    StoreError,
    UsageError,
)

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_RESPONSES",
    "STATUS_BY_ERROR",
    "install_problem_handlers",
    "problem_for",
    "problem_response",
    "status_for",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
"""The media type of every error response."""

STATUS_BY_ERROR: tuple[tuple[type[MedwardenError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (RuleViolationError, 422),
    (UsageError, 400),
    (InputTooLargeError, 413),
    (InputError, 422),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (AccessError, 403),
    (StoreError, 503),
    (ConfigError, 500),
)
"""Error class → HTTP status, most specific first; anything else is 500."""

_HIDDEN = (StoreError, ConfigError)
"""Errors whose message is logged, not returned (it may name hosts, paths, settings)."""

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": HTTPStatus(status).phrase}
    for status in (400, 401, 403, 404, 409, 413, 422, 503)
}
"""The error responses every router documents (OpenAPI), all ``application/problem+json``."""

_LOG = logging.getLogger("medwarden.api")
_UNKNOWN_CODE = "MW000"


def status_for(error: MedwardenError) -> int:
    """The HTTP status of a medwarden error."""
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def _code_for_status(status: int) -> str:
    """The medwarden code of an HTTP-level error (an unknown route, a wrong method)."""
    if status == 404:
        return NotFoundError.code
    if status == 413:
        return InputTooLargeError.code
    return UsageError.code if status < 500 else _UNKNOWN_CODE


def problem_response(
    status: int,
    *,
    code: str,
    detail: str | None,
    instance: str | None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """A problem-details response (usable as an ASGI app, e.g. from middleware)."""
    body: dict[str, Any] = {
        "type": f"urn:medwarden:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
    }
    body.update(extra or {})
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE
    )


def _authenticate_header(request: Request) -> str:
    # RFC 6750 section 3.1: name the error only when credentials were presented.
    if "authorization" in request.headers:
        return 'Bearer realm="medwarden", error="invalid_token"'
    return 'Bearer realm="medwarden"'


async def _medwarden_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MedwardenError)  # noqa: S101 - registered for MedwardenError only
    status = status_for(exc)
    headers = {}
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = _authenticate_header(request)
    if isinstance(exc, AccessError):  # security log: who was refused what (never a secret)
        client = request.client.host if request.client else "unknown"
        _LOG.warning(
            "%s %s refused for %s: [%s] %s",
            request.method,
            request.url.path,
            client,
            exc.code,
            exc.message,
        )
    if isinstance(exc, _HIDDEN) or status >= 500:
        _LOG.error("%s %s failed: %s", request.method, request.url.path, exc.diagnostics())
        detail = f"{type(exc).__name__}: the server could not complete the request"
        extra: dict[str, Any] = {}
    else:
        detail = exc.message
        extra = {"hint": exc.hint} if exc.hint else {}
        if exc.details:
            extra["details"] = list(exc.details)
    return problem_response(
        status,
        code=exc.code,
        detail=detail,
        instance=request.url.path,
        headers=headers,
        extra=extra,
    )


def _issues(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "loc": [part if isinstance(part, int) else str(part) for part in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
    return problem_response(
        422,
        code=UsageError.code,
        detail="the request is not valid",
        instance=request.url.path,
        extra={"errors": _issues(exc.errors())},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it only
    return problem_response(
        exc.status_code,
        code=_code_for_status(exc.status_code),
        detail=str(exc.detail),
        instance=request.url.path,
        headers=exc.headers,
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    _LOG.error("%s %s failed unexpectedly", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500,
        code=_UNKNOWN_CODE,
        detail="an unexpected error occurred; it was logged",
        instance=request.url.path,
    )


async def problem_for(request: Request, exc: Exception) -> Response:
    """The problem-details response the app's handlers give for ``exc`` (for code that
    answers ahead of the router, e.g. :mod:`medwarden.api.device_path`)."""
    if isinstance(exc, MedwardenError):
        return await _medwarden_error(request, exc)
    return await _unexpected_error(request, exc)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem-details response."""
    app.add_exception_handler(MedwardenError, _medwarden_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
