"""Rows an ingest plan writes (records, interior nodes, security events) and its results."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from medwarden.telemetry.envelope import DOMAIN_PREFIX
from medwarden.telemetry.ingest import (
    AcceptedRecord,
    IngestPlan,
    SecurityEvent,
)
from medwarden.telemetry.receipts import IngestResult, Receipt, ReceiptSigner

__all__ = ["duplicate_receipt", "event_rows", "node_rows", "record_rows", "results"]

_PREFIX_LEN = len(DOMAIN_PREFIX)


def record_rows(
    device_pk: int,
    device_id: str,
    accepted: Iterable[AcceptedRecord],
    received_at: datetime,
    signer: ReceiptSigner,
) -> tuple[list[dict[str, Any]], dict[int, Receipt]]:
    rows: list[dict[str, Any]] = []
    receipts: dict[int, Receipt] = {}
    for a in accepted:
        rec = a.signed.record
        receipt = signer.sign(
            Receipt(
                device_id,
                rec.boot_id,
                rec.seq,
                a.record_hash,
                a.outcome.value,
                a.ledger_index,
                received_at,
                signer.key_id,
            )
        )
        receipts[a.index] = receipt
        rows.append(
            {
                "device_pk": device_pk,
                "ledger_index": a.ledger_index,
                "boot_id": rec.boot_id,
                "seq": rec.seq,
                "device_time": rec.device_time,
                "received_at": received_at,
                "record_type": rec.record_type.value,
                "record_hash": a.record_hash,
                "record_json": a.signed.canonical[_PREFIX_LEN:].decode("utf-8"),
                "signature": a.signed.signature,
                "leaf_hash": a.leaf_hash,
                "key_id": a.key_id,
                "outcome": a.outcome.value,
                "receipt_sig": receipt.signature,
                "receipt_key_id": receipt.key_id,
            }
        )
    return rows, receipts


def node_rows(device_pk: int, accepted: Iterable[AcceptedRecord]) -> list[dict[str, Any]]:
    rows = []
    for a in accepted:
        size = a.ledger_index + 1
        for level, digest in enumerate(a.nodes, start=1):
            rows.append(
                {"device_pk": device_pk, "level": level, "idx": (size >> level) - 1, "hash": digest}
            )
    return rows


def event_rows(
    device_pk: int | None,
    device_id: str,
    events: Iterable[SecurityEvent],
    received_at: datetime,
    transport: str,
) -> list[dict[str, Any]]:
    return [
        {
            "device_pk": device_pk,
            "device_id": device_id,
            "kind": e.kind,
            "transport": transport,
            "boot_id": e.boot_id,
            "seq": e.seq,
            "record_hash": e.record_hash,
            "missing_lo": e.missing[0] if e.missing else None,
            "missing_hi": e.missing[1] if e.missing else None,
            "detail": e.detail[:2000],
            "received_at": received_at,
        }
        for e in events
    ]


def results(count: int, plan: IngestPlan, receipts: dict[int, Receipt]) -> list[IngestResult]:
    out: list[IngestResult] = []
    rejected = {r.index: r for r in plan.rejected}
    for index in range(count):
        if index in receipts:
            out.append(IngestResult(index, "accepted", receipts[index]))
        elif index in plan.duplicates:
            out.append(IngestResult(index, "duplicate", duplicate_receipt(plan, index, receipts)))
        else:
            r = rejected[index]
            out.append(IngestResult(index, "rejected", None, r.error_code, r.detail))
    return out


def duplicate_receipt(plan: IngestPlan, index: int, receipts: dict[int, Receipt]) -> Receipt:
    original = plan.duplicates[index]
    if isinstance(original, AcceptedRecord):
        return receipts[original.index]
    return original
