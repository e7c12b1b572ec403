"""The libsodium hot path agrees with OpenSSL's Ed25519 (cryptography) byte for byte."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from medwarden.core import ed25519

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key().public_bytes_raw()

# RFC 8032 section 7.1, TEST 1 (empty message)
RFC_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC_SIG = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def test_rfc8032_vector() -> None:
    signer = ed25519.FastSigner(Ed25519PrivateKey.from_private_bytes(RFC_SECRET))
    assert signer.sign(b"") == RFC_SIG
    assert ed25519.verify(RFC_PUBLIC, RFC_SIG, b"")
    assert not ed25519.verify(RFC_PUBLIC, RFC_SIG, b"\x00")


@settings(max_examples=60)
@given(st.binary(max_size=2048))
def test_same_signature_as_openssl_and_cross_verifies(message: bytes) -> None:
    fast = ed25519.FastSigner(KEY).sign(message)
    assert fast == KEY.sign(message)  # Ed25519 is deterministic
    KEY.public_key().verify(fast, message)  # OpenSSL accepts libsodium's signature
    assert ed25519.verify(PUBLIC, KEY.sign(message), message)


@settings(max_examples=60)
@given(st.binary(min_size=1, max_size=512), st.integers(min_value=0, max_value=63))
def test_any_flipped_bit_fails(message: bytes, at: int) -> None:
    sig = bytearray(KEY.sign(message))
    sig[at] ^= 0x01
    assert not ed25519.verify(PUBLIC, bytes(sig), message)
    try:
        KEY.public_key().verify(bytes(sig), message)
    except InvalidSignature:
        pass
    else:  # pragma: no cover - would mean the two libraries disagree
        raise AssertionError("OpenSSL accepted a flipped signature")
    tampered = bytes([message[0] ^ 0x80]) + message[1:]
    assert not ed25519.verify(PUBLIC, KEY.sign(message), tampered)


def test_malformed_inputs_are_refused_not_raised() -> None:
    sig = KEY.sign(b"m")
    assert not ed25519.verify(PUBLIC[:31], sig, b"m")
    assert not ed25519.verify(PUBLIC, sig[:63], b"m")
    assert not ed25519.verify(PUBLIC, sig + b"\x00", b"m")
    assert not ed25519.verify(bytes(32), sig, b"m")  # a small-order (identity) key


def test_signer_repr_hides_the_key() -> None:
    text = repr(ed25519.FastSigner(KEY))
    assert "Ed25519" in text
    assert bytes(range(32)).hex() not in text
