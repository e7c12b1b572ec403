"""The ingest port: what a transport hands to the backend, and how the port's errors map.

A transport (MQTT, HTTPS) authenticates the device, decodes the batch frame and calls the
port with the *authenticated* device id and the envelope objects as decoded JSON (each in
the wire form of :mod:`medwarden.telemetry.envelope`).  The port parses and verifies every
envelope, stores what is valid and returns one :class:`IngestResult` per envelope, in
order, only after the transaction committed.  The port must be idempotent: transports
deliver at least once, and a retry of a stored record answers ``duplicate`` with the
original receipt.  It must also refuse envelopes whose ``record.device_id`` is not the
authenticated device id.

Errors the port raises fall in two kinds:

* *definitive* (:data:`DEFINITIVE_ERRORS`: input, verification, access and usage errors):
  the batch can never succeed as sent.  The transport answers one rejected result
  carrying the error's code and acknowledges the message;
* anything else (a :class:`~medwarden.errors.StoreError`, a driver's connection error, a
  bug): *transient*.  The transport must not acknowledge, so that the message is
  delivered again later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from medwarden.errors import (
    AccessError,
    InputError,
    MedwardenError,
    UsageError,
    VerificationError,
)
from medwarden.telemetry.receipts import IngestResult

__all__ = ["DEFINITIVE_ERRORS", "IngestPort", "is_definitive", "rejected"]

IngestPort = Callable[[str, Sequence[object]], Sequence[IngestResult]]
"""``port(device_id, envelopes) -> results``: one result per envelope, after commit."""

DEFINITIVE_ERRORS: tuple[type[MedwardenError], ...] = (
    InputError,
    VerificationError,
    AccessError,
    UsageError,
)
"""Port errors that reject a batch for good (acknowledged, never retried by the transport)."""


def is_definitive(exc: BaseException) -> bool:
    """True when ``exc`` rejects the batch for good; False when a retry may succeed."""
    return isinstance(exc, DEFINITIVE_ERRORS)


def rejected(exc: MedwardenError, *, index: int = 0) -> IngestResult:
    """A rejected result carrying the error's stable code and message."""
    return IngestResult(index=index, status="rejected", error_code=exc.code, detail=exc.message)
