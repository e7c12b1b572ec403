"""A fake in-memory ingest port (the port boundary, not a broker mock) and record builders."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medwarden.errors import InputError, PermissionDeniedError
from medwarden.ingest.ports import rejected
from medwarden.telemetry.envelope import SignedRecord, parse_envelope, record_hash, sign_record
from medwarden.telemetry.receipts import IngestResult, Receipt, sign_receipt
from medwarden.telemetry.records import GENESIS
from tests.telemetry.builders import make_record

DEVICE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
SERVER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def signed_chain(
    n: int, *, device_id: str = "dev-1", boot_id: str = "boot-1"
) -> list[SignedRecord]:
    """``n`` chained records of ``device_id``, signed with :data:`DEVICE_KEY`."""
    out: list[SignedRecord] = []
    prev = GENESIS
    for seq in range(n):
        record = make_record(seq, prev_hash=prev, boot_id=boot_id, device_id=device_id)
        out.append(sign_record(DEVICE_KEY, record))
        prev = record_hash(record)
    return out


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@dataclass
class FakeIngestPort:
    """Stores envelopes in memory and answers like the real port (after 'commit').

    ``fail`` is raised by the next ``fail_times`` calls; ``gate`` holds each call until set.
    """

    fail: Exception | None = None
    fail_times: int = 0
    gate: threading.Event | None = None
    calls: list[tuple[str, list[object]]] = field(default_factory=list)
    attempts: int = 0
    entered: threading.Event = field(default_factory=threading.Event)
    returned: threading.Event = field(default_factory=threading.Event)
    stored: dict[str, Receipt] = field(default_factory=dict)

    def __call__(self, device_id: str, envelopes: Sequence[object]) -> Sequence[IngestResult]:
        self.attempts += 1
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
        if self.fail is not None and self.fail_times > 0:
            self.fail_times -= 1
            raise self.fail
        self.calls.append((device_id, list(envelopes)))
        results = [self._one(device_id, i, env) for i, env in enumerate(envelopes)]
        self.returned.set()
        return results

    def _one(self, device_id: str, index: int, envelope: object) -> IngestResult:
        try:
            if not isinstance(envelope, dict):
                raise InputError("an envelope must be a JSON object")
            signed = parse_envelope(envelope)
            if signed.record.device_id != device_id:
                raise PermissionDeniedError("record of another device")
        except (InputError, PermissionDeniedError) as exc:
            return rejected(exc, index=index)
        digest = signed.hash
        if digest in self.stored:
            return IngestResult(index=index, status="duplicate", receipt=self.stored[digest])
        rec = signed.record
        receipt = sign_receipt(
            SERVER_KEY,
            Receipt(
                device_id=rec.device_id,
                boot_id=rec.boot_id,
                seq=rec.seq,
                record_hash=digest,
                outcome="stored",
                ledger_index=len(self.stored),
                received_at=datetime(2026, 1, 1, tzinfo=UTC),
                key_id="test-server",
            ),
        )
        self.stored[digest] = receipt
        return IngestResult(index=index, status="accepted", receipt=receipt)
