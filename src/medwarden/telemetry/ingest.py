"""Plan what to store for a batch of envelopes from one authenticated device, pure.

The store gathers what the plan needs in one round trip (the device's keys, its chain
head, its ledger frontier, the stored records the batch's hashes and (boot, seq) slots
already name, and which of the batch's boot ids it has seen), then :func:`plan_batch`
decides, envelope by envelope, in submission order:

1. form: a malformed envelope is rejected (MW100/MW101);
2. identity: a record naming another device than the authenticated one is rejected
   (MW502) -- a device cannot write into another's chain;
3. signature: it must verify with a key valid for it (:func:`keys_for_record`);
   otherwise rejected (MW401), noting whether a revoked or retired key would verify;
4. idempotence: a record already stored (same hash) is a *duplicate*, answered with its
   stored receipt (byte-identical) -- and recorded as a ``stale_duplicate`` event when it
   was acknowledged longer ago than the clock window; a different record at a stored
   (boot, seq) is a *replay* (MW402);
5. chain: :func:`~medwarden.telemetry.chain.check_next` classifies the rest; accepted
   records get the next ledger index of the device's shard.

Every rejection and every chain finding becomes a :class:`SecurityEvent` naming the
envelope.  Nothing here writes; the store persists the plan in one transaction and
issues receipts only after it committed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from medwarden.errors import (
    ChainError,
    InputError,
    MedwardenError,
    PermissionDeniedError,
    SignatureError,
)
from medwarden.telemetry.chain import ChainState, Finding, Outcome, check_next
from medwarden.telemetry.devices import DeviceKey, keys_for_record
from medwarden.telemetry.envelope import SignedRecord, parse_envelope, verify_envelope
from medwarden.telemetry.ledger.checkpoint import record_leaf_hash
from medwarden.telemetry.ledger.merkle import MerkleAccumulator
from medwarden.telemetry.receipts import Receipt

__all__ = [
    "AcceptedRecord",
    "BatchContext",
    "IngestPlan",
    "Rejection",
    "SecurityEvent",
    "parse_items",
    "plan_batch",
    "preverify",
]


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """Something about a submitted envelope that a PSIRT engineer must be able to see."""

    kind: str
    index: int
    detail: str
    boot_id: str | None = None
    seq: int | None = None
    record_hash: str | None = None
    missing: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class AcceptedRecord:
    """A record that joins the device's chain and ledger shard."""

    index: int
    signed: SignedRecord
    record_hash: str
    outcome: Outcome
    ledger_index: int
    leaf_hash: bytes
    key_id: str
    nodes: tuple[bytes, ...] = ()
    """Interior nodes this leaf completed, level 1 upwards (see ``MerkleAccumulator.append``)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A submitted envelope that is not stored."""

    index: int
    error_code: str
    detail: str


@dataclass(frozen=True, slots=True)
class BatchContext:
    """What the store knows that the plan needs (see the module docstring)."""

    device_id: str
    keys: Sequence[DeviceKey]
    state: ChainState | None
    frontier: MerkleAccumulator
    stored_by_hash: Mapping[str, Receipt]
    """Receipts of stored records the batch names, by record hash."""
    stored_by_slot: Mapping[tuple[str, int], str]
    known_boots: frozenset[str]
    received_at: datetime
    window: timedelta
    verified: Mapping[int, tuple[str, bytes]] = field(default_factory=dict)
    """Signatures already checked outside the transaction (see :func:`preverify`): item
    index -> (key id, public key) that verified it.  Trusted only if that very key is
    still valid for the record in :attr:`keys`; anything else is verified again."""


@dataclass(slots=True)
class IngestPlan:
    """The outcome of every envelope of a batch, and the device's state after it."""

    accepted: list[AcceptedRecord] = field(default_factory=list)
    duplicates: dict[int, Receipt | AcceptedRecord] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    events: list[SecurityEvent] = field(default_factory=list)
    state: ChainState | None = None
    frontier: MerkleAccumulator = field(default_factory=MerkleAccumulator)


def parse_items(items: Sequence[object]) -> list[SignedRecord | MedwardenError]:
    """Parse each submitted envelope, keeping the error of each one that is malformed."""
    out: list[SignedRecord | MedwardenError] = []
    for item in items:
        try:
            out.append(parse_envelope(item if isinstance(item, bytes | str) else _obj(item)))
        except InputError as exc:
            out.append(exc)
    return out


def _obj(item: object) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise InputError(f"an envelope must be a JSON object, not {type(item).__name__}")
    return item


def _event_for(exc: MedwardenError, index: int, signed: SignedRecord | None, kind: str) -> Any:
    r = signed.record if signed is not None else None
    return SecurityEvent(
        kind=kind,
        index=index,
        detail=exc.message,
        boot_id=r.boot_id if r else None,
        seq=r.seq if r else None,
        record_hash=signed.hash if signed else None,
    )


class _Planner:
    def __init__(self, ctx: BatchContext) -> None:
        self.ctx = ctx
        self.plan = IngestPlan(
            frontier=MerkleAccumulator.restore(ctx.frontier.size, ctx.frontier.hashes)
        )
        state = ctx.state
        if state is not None:
            state = replace(state, boots=ctx.known_boots | {state.boot_id}, recent=())
        self.state = state
        self.in_batch: dict[str, AcceptedRecord] = {}

    def reject(
        self, index: int, exc: MedwardenError, signed: SignedRecord | None, kind: str
    ) -> None:
        self.plan.rejected.append(Rejection(index, exc.code, exc.message))
        self.plan.events.append(_event_for(exc, index, signed, kind))

    def signer(self, signed: SignedRecord, index: int) -> DeviceKey | None:
        usable = keys_for_record(self.ctx.keys, signed.record, self.ctx.received_at)
        checked = self.ctx.verified.get(index)
        if checked is not None:
            for key in usable:
                if (key.key_id, key.public_key) == checked:
                    return key
        for key in usable:
            try:
                verify_envelope(key.public_key, signed)
            except SignatureError:
                continue
            return key
        return None

    def bad_signature(self, index: int, signed: SignedRecord) -> None:
        rec = signed.record
        why = "signature does not verify with any valid key of the device"
        kind = "bad_signature"
        for key in self.ctx.keys:
            try:
                verify_envelope(key.public_key, signed)
            except SignatureError:
                continue
            why = f"signed by key {key.key_id}, which is {key.state.value} and not valid here"
            kind = f"{key.state.value}_key"
            break
        exc = SignatureError(f"record {rec.device_id}/{rec.boot_id}/{rec.seq}: {why}")
        self.reject(index, exc, signed, kind)

    def stale_duplicate(self, index: int, signed: SignedRecord, stored: Receipt) -> None:
        """A copy of a record acknowledged longer ago than the clock window: still answered
        with its receipt (idempotent), but recorded, because a device re-sends only what it
        has no receipt for, promptly -- a late copy is a replay or a device losing receipts."""
        age = self.ctx.received_at - stored.received_at
        if age <= self.ctx.window:
            return
        rec = signed.record
        self.plan.events.append(
            SecurityEvent(
                kind="stale_duplicate",
                index=index,
                detail=f"record acknowledged at {stored.received_at.isoformat()} sent again "
                f"{age} later (a replay, or a device that lost its receipts)",
                boot_id=rec.boot_id,
                seq=rec.seq,
                record_hash=stored.record_hash,
            )
        )

    def take(self, index: int, item: SignedRecord | MedwardenError) -> None:
        if isinstance(item, MedwardenError):
            self.reject(index, item, None, "malformed")
            return
        rec = item.record
        if rec.device_id != self.ctx.device_id:
            exc = PermissionDeniedError(
                f"record names device {rec.device_id}, not the authenticated {self.ctx.device_id}"
            )
            self.reject(index, exc, item, "device_mismatch")
            return
        key = self.signer(item, index)
        if key is None:
            self.bad_signature(index, item)
            return
        self.chain(index, item, key)

    def chain(self, index: int, signed: SignedRecord, key: DeviceKey) -> None:
        h = signed.hash
        stored = self.ctx.stored_by_hash.get(h)
        if stored is not None:
            self.plan.duplicates[index] = stored
            self.stale_duplicate(index, signed, stored)
            return
        rec = signed.record
        other = self.ctx.stored_by_slot.get((rec.boot_id, rec.seq))
        if other is not None and other != h:
            exc = ChainError(
                f"record {rec.boot_id}/{rec.seq} differs from the stored record at that seq"
            )
            self.reject(index, exc, signed, "replay")
            return
        verdict = check_next(
            self.state, rec, received_at=self.ctx.received_at, window=self.ctx.window, known_hash=h
        )
        for finding in verdict.findings:
            self.plan.events.append(_finding_event(finding, index))
        if verdict.outcome is Outcome.DUPLICATE:
            self.plan.duplicates[index] = self.in_batch[h]
            return
        if not verdict.accepted:
            last = verdict.findings[-1].detail if verdict.findings else verdict.outcome.value
            self.plan.rejected.append(Rejection(index, ChainError.code, last))
            return
        self.state = verdict.state
        leaf = record_leaf_hash(h, signed.signature)
        ledger_index = self.plan.frontier.size
        nodes = tuple(self.plan.frontier.append(leaf))
        accepted = AcceptedRecord(
            index, signed, h, verdict.outcome, ledger_index, leaf, key.key_id, nodes
        )
        self.plan.accepted.append(accepted)
        self.in_batch[h] = accepted


def _finding_event(finding: Finding, index: int) -> SecurityEvent:
    return SecurityEvent(
        kind=finding.kind.value,
        index=index,
        detail=finding.detail,
        boot_id=finding.boot_id,
        seq=finding.seq,
        record_hash=finding.record_hash,
        missing=finding.missing,
    )


def preverify(
    device_id: str,
    keys: Sequence[DeviceKey],
    items: Sequence[SignedRecord | MedwardenError],
    received_at: datetime,
) -> dict[int, tuple[str, bytes]]:
    """Verify signatures before the write transaction, with keys read (or cached) before it.

    Returns item index -> (key id, public key) of the key that verified it, for
    :attr:`BatchContext.verified`.  Ed25519 verification is the largest cost of ingest;
    doing it here keeps it out of the per-device lock (and out of SQLite's single writer).
    :func:`plan_batch` accepts a result only if the key is still valid in the keys it reads
    inside the transaction, so a key revoked in between is never trusted."""
    verified: dict[int, tuple[str, bytes]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, SignedRecord) or item.record.device_id != device_id:
            continue
        for key in keys_for_record(keys, item.record, received_at):
            try:
                verify_envelope(key.public_key, item)
            except SignatureError:
                continue
            verified[index] = (key.key_id, key.public_key)
            break
    return verified


def plan_batch(ctx: BatchContext, items: Sequence[SignedRecord | MedwardenError]) -> IngestPlan:
    """Decide the fate of every item (parsed by :func:`parse_items`), in order."""
    planner = _Planner(ctx)
    for index, item in enumerate(items):
        planner.take(index, item)
    planner.plan.state = planner.state
    return planner.plan
