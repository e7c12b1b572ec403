"""API token strings: format, uniqueness, parsing, and that tampering never authenticates."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medwarden.auth.tokens import (
    TOKEN_PATTERN,
    TokenSecret,
    generate_token,
    parse_token,
    secret_digest,
    secret_matches,
)
from medwarden.errors import AuthenticationError

_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


def test_format() -> None:
    """mwt_ + 16 hex digits + _ + 43 URL-safe characters; the digest is SHA-256 of the secret."""
    token = generate_token()
    assert TOKEN_PATTERN.fullmatch(token.plaintext)
    assert token.plaintext == f"mwt_{token.token_id}_{token.secret}"
    assert len(token.token_id) == 16
    assert len(token.secret) == 43
    assert token.digest == hashlib.sha256(token.secret.encode()).hexdigest()
    assert parse_token(token.plaintext) == token


def test_the_secret_is_not_in_repr() -> None:
    """Logs and tracebacks that print a token show its id only."""
    token = generate_token()
    assert token.secret not in repr(token)
    assert token.token_id in repr(token)


@settings(max_examples=20)
@given(st.integers(min_value=50, max_value=300))
def test_tokens_never_collide(count: int) -> None:
    """Neither ids nor secrets repeat (64 and 256 random bits)."""
    tokens = [generate_token() for _ in range(count)]
    assert len({t.token_id for t in tokens}) == count
    assert len({t.secret for t in tokens}) == count


@given(st.data())
def test_a_tampered_secret_never_matches(data: st.DataObject) -> None:
    """Changing any character of the secret makes the stored digest refuse it."""
    token = generate_token()
    position = data.draw(st.integers(0, len(token.secret) - 1))
    replacement = data.draw(
        st.sampled_from(_ALPHABET).filter(lambda c: c != token.secret[position])
    )
    tampered = token.secret[:position] + replacement + token.secret[position + 1 :]
    assert secret_matches(token.secret, token.digest)
    assert not secret_matches(tampered, token.digest)
    parsed = parse_token(TokenSecret(token.token_id, tampered).plaintext)
    assert not secret_matches(parsed.secret, token.digest)


@given(st.data())
def test_a_tampered_token_string_fails_or_differs(data: st.DataObject) -> None:
    """Any single-character change to a token string is refused or names another id/secret."""
    token = generate_token()
    text = token.plaintext
    position = data.draw(st.integers(0, len(text) - 1))
    replacement = data.draw(st.characters().filter(lambda c: c != text[position]))
    tampered = text[:position] + replacement + text[position + 1 :]
    try:
        parsed = parse_token(tampered)
    except AuthenticationError:
        return
    assert parsed != token
    assert parsed.token_id != token.token_id or not secret_matches(parsed.secret, token.digest)


@given(st.text(max_size=120))
def test_arbitrary_text_is_refused_without_echo(text: str) -> None:
    """Anything not shaped like a token is an AuthenticationError that does not repeat it."""
    if TOKEN_PATTERN.fullmatch(text):
        return
    with pytest.raises(AuthenticationError) as caught:
        parse_token(text)
    assert caught.value.message == "malformed API token"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "mwt_",
        "mwt_0123456789abcdef_",
        "mwt_0123456789ABCDEF_" + "a" * 43,  # upper-case id
        "mwt_0123456789abcde_" + "a" * 43,  # short id
        "mwt_0123456789abcdef_" + "a" * 42,  # short secret
        "mwt_0123456789abcdef_" + "a" * 44,  # long secret
        "mwx_0123456789abcdef_" + "a" * 43,
        " mwt_0123456789abcdef_" + "a" * 43,
        "mwt_0123456789abcdef_" + "a" * 42 + "=",
        "x" * 10_000,
    ],
)
def test_malformed_tokens(text: str) -> None:
    """Near misses are refused before any lookup."""
    with pytest.raises(AuthenticationError, match="malformed API token"):
        parse_token(text)


def test_unknown_ids_compare_too() -> None:
    """Without a stored digest the check still runs, and fails."""
    assert not secret_matches(generate_token().secret, None)
    assert secret_digest("abc") == hashlib.sha256(b"abc").hexdigest()
