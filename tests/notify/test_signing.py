"""Webhook signatures: sign/verify round trips; any tampering, replay or malformed header fails."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.errors import VerificationError
from medwarden.notify.signing import new_secret, sign, signature_header, verify_signature

secrets_ = st.text(min_size=1, max_size=40)
bodies = st.binary(max_size=300)
stamps = st.integers(min_value=0, max_value=4_000_000_000)


@given(secret=secrets_, body=bodies, timestamp=stamps)
def test_a_signed_body_verifies(secret: str, body: bytes, timestamp: int) -> None:
    """What :func:`signature_header` signs, :func:`verify_signature` accepts."""
    header = signature_header(secret, timestamp, body)
    assert verify_signature(secret, body, header, now=timestamp) == timestamp


@given(
    secret=secrets_,
    body=bodies.filter(bool),
    timestamp=stamps,
    data=st.data(),
)
def test_changing_any_byte_of_the_body_fails(
    secret: str, body: bytes, timestamp: int, data: st.DataObject
) -> None:
    """Flipping bits of any one byte of the body makes verification fail."""
    header = signature_header(secret, timestamp, body)
    position = data.draw(st.integers(0, len(body) - 1), label="position")
    flip = data.draw(st.integers(1, 255), label="xor")
    tampered = body[:position] + bytes([body[position] ^ flip]) + body[position + 1 :]
    with pytest.raises(VerificationError, match="does not match"):
        verify_signature(secret, tampered, header, now=timestamp)


@given(secret=secrets_, body=bodies, timestamp=stamps, data=st.data())
def test_changing_any_character_of_the_signature_fails(
    secret: str, body: bytes, timestamp: int, data: st.DataObject
) -> None:
    """Any other hex digit anywhere in the MAC, or a shifted timestamp, fails."""
    mac = sign(secret, timestamp, body)
    position = data.draw(st.integers(0, len(mac) - 1), label="position")
    other = data.draw(st.sampled_from([c for c in "0123456789abcdef" if c != mac[position]]))
    forged = mac[:position] + other + mac[position + 1 :]
    with pytest.raises(VerificationError):
        verify_signature(secret, body, f"t={timestamp},v1={forged}", now=timestamp)
    with pytest.raises(VerificationError):
        verify_signature(secret, body, f"t={timestamp + 1},v1={mac}", now=timestamp)


@given(secret=secrets_, other=secrets_, body=bodies, timestamp=stamps)
def test_another_secret_fails(secret: str, other: str, body: bytes, timestamp: int) -> None:
    """A signature made with another secret is refused."""
    if other == secret:
        return
    header = signature_header(other, timestamp, body)
    with pytest.raises(VerificationError):
        verify_signature(secret, body, header, now=timestamp)


def test_timestamps_outside_the_tolerance_are_refused() -> None:
    """Replays older (or clocks further ahead) than the tolerance are refused."""
    body = b'{"id":"evt_1"}'
    header = signature_header("s3cret", 1_000_000, body)
    assert verify_signature("s3cret", body, header, now=1_000_300) == 1_000_000
    assert verify_signature("s3cret", body, header, now=999_700) == 1_000_000
    with pytest.raises(VerificationError, match="301 s away"):
        verify_signature("s3cret", body, header, now=1_000_301)
    with pytest.raises(VerificationError, match="away"):
        verify_signature("s3cret", body, header, now=1_000_100, tolerance_s=60)
    when = datetime.fromtimestamp(1_000_010, UTC)
    assert verify_signature("s3cret", body, header, now=when) == 1_000_000


def test_any_of_several_macs_may_match() -> None:
    """During a secret rotation the header may carry several v1 entries."""
    body = b"{}"
    good = sign("new-secret", 5, body)
    header = f"t=5,v1={'0' * 64},v1={good}"
    assert verify_signature("new-secret", body, header, now=5) == 5


@pytest.mark.parametrize(
    "header",
    ["", "garbage", "t=abc,v1=00", "v1=00", "t=5", "t=5,v2=00", "t=\u0665,v1=00", "t=5,v1=é"],
)
def test_malformed_headers_are_refused(header: str) -> None:
    """Headers without a numeric t and a v1 MAC, or with a non-hex MAC, fail cleanly."""
    with pytest.raises(VerificationError):
        verify_signature("s3cret", b"{}", header, now=5)


def test_generated_secrets_are_long_and_distinct() -> None:
    """Generated secrets carry 256 random bits."""
    first, second = new_secret(), new_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(first) >= 48
