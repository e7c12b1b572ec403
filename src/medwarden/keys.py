"""The server's Ed25519 key file for receipts and ledger checkpoints.

The private key lives in a PEM file (PKCS #8, mode 0600) outside the database, so that
someone who can write the database still cannot forge a receipt or a checkpoint.  Its
public half is registered in the store (``server_key``) and exported with every ledger
export; auditors should pin it out of band (``medwarden ledger key``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from medwarden.errors import ConfigError
from medwarden.telemetry.devices import key_id, public_key_to_bytes
from medwarden.telemetry.receipts import ReceiptSigner

__all__ = ["load_or_create_signer"]


def _create(path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process created it first: use theirs
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def load_or_create_signer(path: str | Path) -> ReceiptSigner:
    """The signer of the key file at ``path``, created (mode 0600) if it does not exist."""
    file = Path(path).expanduser()
    if not file.exists():
        _create(file)
    if file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"ledger key file {file} is readable by other users",
            hint=f"chmod 600 {file}",
        )
    try:
        key = load_pem_private_key(file.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"ledger key file {file} is not an unencrypted PEM key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"ledger key file {file} does not hold an Ed25519 key")
    return ReceiptSigner(key, key_id(public_key_to_bytes(key.public_key())))
