"""Argon2id password hashing: verify, refuse, upgrade, and the password policy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medwarden.auth.passwords import (
    DEFAULT_HASHING,
    MAX_PASSWORD_LENGTH,
    PasswordHashing,
    check_password_policy,
)
from medwarden.errors import RuleViolationError
from tests.auth.conftest import FAST_HASHING

passwords = st.text(min_size=12, max_size=40).filter(lambda p: p.strip())


def test_hash_and_verify_with_the_default_parameters() -> None:
    """The production parameters: Argon2id, salted, verifies only the right password."""
    hashed = DEFAULT_HASHING.hash("correct horse battery staple")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert DEFAULT_HASHING.verify(hashed, "correct horse battery staple")
    assert not DEFAULT_HASHING.verify(hashed, "correct horse battery stapler")
    assert not DEFAULT_HASHING.needs_rehash(hashed)
    assert DEFAULT_HASHING.hash("correct horse battery staple") != hashed  # a new salt


@settings(max_examples=25)
@given(passwords, passwords)
def test_only_the_password_verifies(password: str, other: str) -> None:
    """Any password verifies against its own hash and no other password does."""
    hashed = FAST_HASHING.hash(password)
    assert FAST_HASHING.verify(hashed, password)
    assert FAST_HASHING.verify(hashed, other) == (other == password)


def test_malformed_hashes_never_verify() -> None:
    """A damaged or foreign hash is a failed check, not an exception; it needs a rehash."""
    for bad in ("", "plain", "$argon2id$v=19$m=8,t=1,p=1$bad", "$2b$12$" + "a" * 53):
        assert not FAST_HASHING.verify(bad, "correct horse battery staple")
        assert FAST_HASHING.needs_rehash(bad)


def test_needs_rehash_after_a_parameter_change() -> None:
    """A hash made with other parameters asks to be upgraded; one with ours does not."""
    old = FAST_HASHING.hash("correct horse battery staple")
    stronger = PasswordHashing(time_cost=2, memory_cost=2048, parallelism=1)
    assert stronger.needs_rehash(old)
    assert stronger.verify(old, "correct horse battery staple")  # still verifies
    assert not stronger.needs_rehash(stronger.hash("correct horse battery staple"))


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "empty"),
        ("            ", "empty"),
        ("short", "shorter than 12"),
        ("x" * (MAX_PASSWORD_LENGTH + 1), "longer than"),
    ],
)
def test_password_policy(password: str, message: str) -> None:
    """Empty, short and huge passwords are refused before hashing."""
    with pytest.raises(RuleViolationError, match=message):
        check_password_policy(password)
    with pytest.raises(RuleViolationError):
        FAST_HASHING.hash(password)


def test_rehash_skips_the_policy() -> None:
    """A password accepted under an older policy can still be re-hashed after a login."""
    assert FAST_HASHING.verify(FAST_HASHING.hash("short", check_policy=False), "short")


def test_unknown_users_cost_a_verification() -> None:
    """verify_nothing spends a real check (and never raises)."""
    FAST_HASHING.verify_nothing("whatever the caller typed")
