"""API token strings: ``mwt_<token id>_<secret>``, generated, parsed and checked.

A token is ``mwt_`` + a 16-hex-digit public id + ``_`` + a secret of 43 URL-safe
base64 characters (``secrets.token_urlsafe(32)``: 256 random bits).  The id is
stored in clear and names the token everywhere (lists, the audit trail, logs); the
secret is shown once, when the token is created, and stored only as its SHA-256.

Why SHA-256 and not a slow password hash such as Argon2: slow hashes exist to make
guessing *low-entropy* secrets (passwords people choose) expensive.  A 256-bit random
secret cannot be guessed at any hash speed (2^255 SHA-256 evaluations on average), so
a stolen ``api_token`` table reveals no usable token, while every API request is
checked in microseconds instead of tens of milliseconds and 64 MiB of memory (an
Argon2 check per request would also hand attackers a cheap denial of service).  The
digest comparison is constant-time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from medwarden.errors import AuthenticationError

__all__ = [
    "TOKEN_PATTERN",
    "TOKEN_PREFIX",
    "TokenSecret",
    "generate_token",
    "parse_token",
    "secret_digest",
    "secret_matches",
]

TOKEN_PREFIX = "mwt"  # noqa: S105 - a public prefix, not a secret
"""The prefix of every medwarden API token (recognisable by secret scanners)."""

_ID_BYTES = 8
_SECRET_BYTES = 32
_SECRET_CHARS = 43  # len(secrets.token_urlsafe(32))

TOKEN_PATTERN = re.compile(
    rf"{TOKEN_PREFIX}_(?P<id>[0-9a-f]{{{2 * _ID_BYTES}}})"
    rf"_(?P<secret>[A-Za-z0-9_-]{{{_SECRET_CHARS}}})"
)
"""The exact shape of a token; anything else is refused before the store is asked."""

_MAX_LENGTH = 256
_DUMMY_DIGEST = "0" * 64


@dataclass(frozen=True, slots=True)
class TokenSecret:
    """A token's public id and its secret; ``plaintext`` is what the client sends.

    The secret never appears in ``repr`` (so not in logs or tracebacks either)."""

    token_id: str
    secret: str = field(repr=False)

    @property
    def plaintext(self) -> str:
        """The full token string, ``mwt_<id>_<secret>``."""
        return f"{TOKEN_PREFIX}_{self.token_id}_{self.secret}"

    @property
    def digest(self) -> str:
        """The SHA-256 (hex) of the secret: the only form in which it is stored."""
        return secret_digest(self.secret)


def generate_token() -> TokenSecret:
    """A new random token: a 64-bit public id and a 256-bit secret."""
    return TokenSecret(
        token_id=secrets.token_hex(_ID_BYTES), secret=secrets.token_urlsafe(_SECRET_BYTES)
    )


def parse_token(text: str) -> TokenSecret:
    """Split a token string into id and secret; anything malformed is an AuthenticationError.

    The message never repeats the text (it may be a real secret pasted in the wrong place)."""
    if not isinstance(text, str) or len(text) > _MAX_LENGTH:
        raise AuthenticationError("malformed API token", hint="tokens look like mwt_<id>_<secret>")
    match = TOKEN_PATTERN.fullmatch(text)
    if match is None:
        raise AuthenticationError("malformed API token", hint="tokens look like mwt_<id>_<secret>")
    return TokenSecret(token_id=match.group("id"), secret=match.group("secret"))


def secret_digest(secret: str) -> str:
    """The hex SHA-256 of a token secret."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def secret_matches(secret: str, digest: str | None) -> bool:
    """Whether ``secret`` hashes to ``digest``, compared in constant time.

    With ``digest=None`` (no such token) a dummy comparison is still made, so an
    unknown id and a wrong secret take the same time."""
    computed = secret_digest(secret)
    expected = _DUMMY_DIGEST if digest is None else digest
    return hmac.compare_digest(computed, expected) and digest is not None
