"""The tamper-evident ledger: signed checkpoints and RFC 9162 proofs per device shard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from medwarden.api.deps import ClockDep, SignerDep, StoreDep, require
from medwarden.api.schemas.devices import (
    CheckpointOut,
    ConsistencyProofOut,
    InclusionProofOut,
    b64,
)
from medwarden.auth.model import Permission, Principal
from medwarden.errors import UsageError
from medwarden.services.telemetry import sign_checkpoint

__all__ = ["router"]

router = APIRouter(tags=["ledger"])

DeviceId = Annotated[str, Path(min_length=1, max_length=128)]
Reader = Annotated[Principal, Depends(require(Permission.READ))]


@router.get("/ledger/keys", summary="The server's ledger public keys")
def server_keys(_: Reader, store: StoreDep) -> dict[str, str]:
    """Key id → Ed25519 public key (base64url) of every receipt/checkpoint key."""
    return {kid: b64(key) for kid, key in sorted(store.ledger.server_keys().items())}


@router.get(
    "/ledger/devices/{device_id}/checkpoint",
    response_model=CheckpointOut,
    summary="The signed tree head of the shard now (RFC 6962 get-sth)",
)
def checkpoint(
    device_id: DeviceId, _: Reader, store: StoreDep, signer: SignerDep, clock: ClockDep
) -> CheckpointOut:
    """A signed checkpoint at the current size (the stored one if the shard did not grow)."""
    return CheckpointOut.of(sign_checkpoint(store.ledger, signer, device_id, clock=clock))


@router.get(
    "/ledger/devices/{device_id}/checkpoints",
    response_model=list[CheckpointOut],
    summary="Every signed checkpoint of a shard",
)
def checkpoints(device_id: DeviceId, _: Reader, store: StoreDep) -> list[CheckpointOut]:
    """Signed checkpoints, oldest first."""
    return [CheckpointOut.of(cp) for cp in store.ledger.checkpoints(device_id)]


@router.get(
    "/ledger/devices/{device_id}/proofs/inclusion",
    response_model=InclusionProofOut,
    summary="Inclusion proof of a record",
)
def inclusion(
    device_id: DeviceId,
    _: Reader,
    store: StoreDep,
    record_hash: Annotated[str, Query(pattern="^[0-9a-f]{64}$")],
    tree_size: Annotated[int | None, Query(ge=1)] = None,
) -> InclusionProofOut:
    """The audit path of the record in the shard of ``tree_size`` leaves (default: now)."""
    found = store.ledger.record_inclusion(device_id, record_hash, tree_size)
    return InclusionProofOut(
        device_id=device_id,
        record_hash=record_hash,
        leaf_index=found.leaf_index,
        leaf_hash=found.leaf_hash.hex(),
        tree_size=found.tree_size,
        root_hash=found.root_hash.hex(),
        audit_path=[h.hex() for h in found.audit_path],
    )


@router.get(
    "/ledger/devices/{device_id}/proofs/consistency",
    response_model=ConsistencyProofOut,
    summary="Consistency proof between two tree sizes",
)
def consistency(
    device_id: DeviceId,
    _: Reader,
    store: StoreDep,
    first: Annotated[int, Query(ge=1)],
    second: Annotated[int, Query(ge=1)],
) -> ConsistencyProofOut:
    """The proof that the shard at ``second`` leaves extends the one at ``first``."""
    if first > second:
        raise UsageError("first must not exceed second")
    proof = store.ledger.consistency_proof(device_id, first, second)
    return ConsistencyProofOut(
        device_id=device_id,
        first=first,
        second=second,
        first_root=store.ledger.root_at(device_id, first).hex(),
        second_root=store.ledger.root_at(device_id, second).hex(),
        proof=[h.hex() for h in proof],
    )
