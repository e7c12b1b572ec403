"""Ed25519 signing and verification on the hot paths, through libsodium (PyNaCl).

Keys are loaded, stored and exchanged as ``cryptography`` objects and raw bytes
everywhere else; this module only does the per-record work -- verifying every device
signature at ingest and in ``ledger verify --signatures``, signing every receipt --
where libsodium is twice as fast as OpenSSL's Ed25519 (measured on the benchmark
machine: verify 54 us vs 103 us, sign 20 us vs 32 us; ``docs/benchmarks.md``).

Ed25519 signatures are deterministic (RFC 8032), so a signature made here is
byte-identical to one OpenSSL makes with the same key, and either library verifies the
other's.  libsodium's verification is the stricter of the two: besides RFC 8032's
checks it refuses small-order public keys and ``R`` points, which no honest signer
produces.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_sign, crypto_sign_open, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError, CryptoError

__all__ = ["PUBLIC_KEY_BYTES", "SIGNATURE_BYTES", "FastSigner", "verify"]

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        crypto_sign_open(signature + message, public_key)
    except (BadSignatureError, CryptoError, ValueError):
        return False
    return True


class FastSigner:
    """Signs with one Ed25519 private key through libsodium (the key is expanded once)."""

    __slots__ = ("_secret",)

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        _public, self._secret = crypto_sign_seed_keypair(private_key.private_bytes_raw())

    def __repr__(self) -> str:  # never show key material
        return "FastSigner(<Ed25519 key>)"

    def sign(self, message: bytes) -> bytes:
        """The 64-byte signature of ``message``."""
        return crypto_sign(message, self._secret)[:SIGNATURE_BYTES]
