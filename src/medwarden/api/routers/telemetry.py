"""Telemetry ingest over HTTPS: ``POST /telemetry/records`` (device credentials only).

Body: ``{"records": [envelope, ...]}`` (1 to 1,000 envelopes in the wire form of
``docs/telemetry.md``).  Answer 200 with one result per envelope, in order: ``accepted``
or ``duplicate`` with the signed receipt, or ``rejected`` with the error code and reason.
A 200 means the accepted records are committed; any other status means nothing of the
batch was stored and the device should retry the same bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from medwarden.api.deps import (
    API_PREFIX,
    current_device,
    device_credentials,
    get_clock,
    get_signer,
    get_store,
    known_device,
)
from medwarden.errors import AuthenticationError, InputError
from medwarden.services.telemetry import MAX_BATCH, DeviceBatch, device_batch
from medwarden.telemetry.receipts import IngestResult

__all__ = ["INGEST_PATH", "LOOP_BODY", "answer", "router"]

router = APIRouter(tags=["telemetry"])

INGEST_PATH = f"{API_PREFIX}/telemetry/records"
"""The full path of the one device route."""

_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["records"],
    "additionalProperties": False,
    "properties": {
        "records": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BATCH,
            "items": {
                "type": "object",
                "required": ["v", "alg", "record", "sig"],
                "properties": {
                    "v": {"const": 1},
                    "alg": {"const": "Ed25519"},
                    "record": {"type": "object"},
                    "sig": {"type": "string"},
                },
            },
        }
    },
}


def _records(raw: bytes) -> list[Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict) or set(body) != {"records"}:
        raise InputError('the body must be {"records": [envelope, ...]}')
    records = body["records"]
    if not isinstance(records, list):
        raise InputError('"records" must be a list of envelopes')
    return records


@router.post(
    "/telemetry/records",
    summary="Submit a batch of signed device records",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}}
    },
)
async def submit_records(request: Request) -> Response:
    """Verify and store the batch; answer per envelope (see the module docstring).

    The device was authenticated by the app-wide dependency (``DEVICE_ROUTES``).  In the
    running app :class:`~medwarden.api.device_path.DeviceIngestPath` answers this route
    ahead of the router, with this same :func:`answer`."""
    return await answer(request, run_in_threadpool)


LOOP_BODY = 16 * 1024
"""Bodies up to this size (a few dozen envelopes) of an authenticated device are parsed on
the event loop and awaited there; larger ones are parsed in a thread."""


async def answer(
    request: Request, run: Callable[[Callable[[], bytes]], Awaitable[bytes]]
) -> Response:
    """Read, authenticate, verify and store one request's batch; ``run`` runs blocking
    work in a thread.

    The device is known from the per-process credential cache when it can be (else the
    registry is read, in the thread); the ingest transaction confirms that the credential
    is still the device's and the device active (401 otherwise, and the cache forgets
    it).  A small batch of a known device is parsed on the event loop and awaits its
    group commit there (no thread of its own); anything else is authenticated, parsed,
    ingested and encoded in one thread hop.  A batch that stored anything queues the device's
    early-warning checks (a deduplicated job) in the same transaction; the checks run
    later, never before the acknowledgement."""
    raw = await request.body()
    ledger = get_store(request).ledger

    def batch(device: str, credential: str) -> DeviceBatch:
        return device_batch(
            get_signer(request),
            device,
            _records(raw),
            clock=get_clock(request),
            transport="https",
            credential_sha256=credential,
        )

    def work() -> bytes:
        device = current_device(request)  # reads the registry unless the cache knew it
        return _encoded(ledger.ingest(batch(device, request.state.device_credential)))

    known = known_device(request)
    try:
        if known is not None and len(raw) <= LOOP_BODY:
            body = _encoded(await ledger.ingest_async(batch(*known)))
        else:
            body = await run(work)
    except AuthenticationError:  # refused by the registry or by the ingest transaction
        if (refused := known_device(request)) is not None:
            device_credentials(request).forget(refused[1])
        raise
    return Response(body, media_type="application/json")


def _encoded(results: Sequence[IngestResult]) -> bytes:
    return orjson.dumps({"results": [r.to_json() for r in results]})
