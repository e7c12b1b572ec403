"""Password hashing with Argon2id (argon2-cffi): hash, verify, and upgrade old hashes.

Passwords are chosen by people, so they are hashed with a slow, memory-hard function
(Argon2id with argon2-cffi's defaults, RFC 9106's low-memory profile: 3 passes over
64 MiB).  The encoded hash carries its own salt and parameters, so raising the
parameters later only makes :meth:`PasswordHashing.needs_rehash` true for older hashes,
which are re-hashed at the next successful login.

Plaintext passwords are never stored, logged or put in the audit trail; only
:meth:`PasswordHashing.hash` sees them.
"""

from __future__ import annotations

from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from medwarden.errors import RuleViolationError

__all__ = [
    "DEFAULT_HASHING",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PasswordHashing",
    "check_password_policy",
]

MIN_PASSWORD_LENGTH = 12
"""Shorter passwords are refused (NIST SP 800-63B asks for at least 8; we ask for 12)."""

MAX_PASSWORD_LENGTH = 1024
"""Longer ones are refused too: hashing megabytes per login attempt would be a cheap DoS."""


def check_password_policy(password: str) -> None:
    """Raise :class:`RuleViolationError` for a password that is too short, too long or blank."""
    if not isinstance(password, str) or not password.strip():
        raise RuleViolationError("the password is empty")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RuleViolationError(
            f"the password is shorter than {MIN_PASSWORD_LENGTH} characters",
            hint="a passphrase of several words is long and easy to remember",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise RuleViolationError(f"the password is longer than {MAX_PASSWORD_LENGTH} characters")


class PasswordHashing:
    """Argon2id password hashing with chosen cost parameters (defaults: argon2-cffi's)."""

    def __init__(
        self,
        *,
        time_cost: int | None = None,
        memory_cost: int | None = None,
        parallelism: int | None = None,
    ) -> None:
        defaults = PasswordHasher()
        self._hasher = PasswordHasher(
            time_cost=defaults.time_cost if time_cost is None else time_cost,
            memory_cost=defaults.memory_cost if memory_cost is None else memory_cost,
            parallelism=defaults.parallelism if parallelism is None else parallelism,
        )

    def hash(self, password: str, *, check_policy: bool = True) -> str:
        """Return the encoded Argon2id hash (salted), after checking the password policy.

        ``check_policy=False`` is for re-hashing a password that was accepted earlier,
        under an older policy, and has just been verified."""
        if check_policy:
            check_password_policy(password)
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``; a malformed hash never matches."""
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether ``password_hash`` was made with other (older) parameters than these."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    def verify_nothing(self, password: str) -> None:
        """Spend the time a real check takes, for an unknown user (no timing oracle)."""
        self.verify(self._dummy_hash, password)

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hasher.hash("medwarden dummy password for unknown users")


DEFAULT_HASHING = PasswordHashing()
"""The hashing every entry point uses (argon2-cffi's default parameters)."""
