"""Roles, permissions, and who is acting: users, API tokens and the :class:`Principal`.

Authorisation is role based, with an optional product scope.  A user holds one or
more :class:`Role` values; each role grants a fixed set of :class:`Permission`
values (:data:`ROLE_PERMISSIONS`, the one table to read when asking who may do
what).  A user or token whose ``products`` is ``None`` may act on every product;
otherwise only on the products whose slugs it lists.

A :class:`Principal` is the authenticated caller of one request or command: the
user's name, the roles and product scope in effect (for a token: the token's roles
and scope *intersected* with its owner's current ones, so demoting a user or
narrowing their scope narrows their tokens at once), and the token it came with.
Its ``require`` and ``check_product`` raise
:class:`~medwarden.errors.PermissionDeniedError`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from medwarden.errors import PermissionDeniedError, UsageError

__all__ = [
    "ROLE_PERMISSIONS",
    "USER_NAME_PATTERN",
    "ApiToken",
    "NewToken",
    "NewUser",
    "Permission",
    "Principal",
    "Role",
    "Scope",
    "TokenCredentials",
    "TokenState",
    "User",
    "UserCredentials",
    "check_token_name",
    "check_user_name",
    "intersect_scopes",
    "parse_roles",
    "permissions_of",
    "scope_within",
]

Scope = frozenset[str] | None
"""A product scope: ``None`` is every product, otherwise the slugs of the products allowed."""

USER_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
"""User names: a letter or digit, then letters, digits and ``. _ @ + -`` (an e-mail works)."""

_TOKEN_NAME_MAX = 100


class Role(StrEnum):
    """What a user is: each role grants the permissions listed in :data:`ROLE_PERMISSIONS`."""

    ADMIN = "admin"
    """Everything, including users and everyone's tokens."""
    SECURITY_ANALYST = "security_analyst"
    """Reads, triages findings, manages the portfolio, issues own tokens."""
    REGULATORY = "regulatory"
    """Reads only (products, releases, findings, reports)."""
    AUDITOR = "auditor"
    """Reads, plus the audit trail; changes nothing."""


class Permission(StrEnum):
    """One thing a caller may do; routes and use cases ask for exactly one."""

    READ = "read"
    """Read products, releases, SBOMs, findings and reports (within the product scope)."""
    TRIAGE = "triage"
    """Write findings, triage decisions and carry-over policies."""
    MANAGE_PORTFOLIO = "manage_portfolio"
    """Create and change products and releases; upload SBOMs."""
    ISSUE_TOKENS = "issue_tokens"
    """Create and revoke one's own API tokens."""
    MANAGE_USERS = "manage_users"
    """Create, list and disable users; list and revoke anyone's tokens."""
    READ_AUDIT = "read_audit"
    """List and verify the audit trail."""


ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.SECURITY_ANALYST: frozenset(
        {Permission.READ, Permission.TRIAGE, Permission.MANAGE_PORTFOLIO, Permission.ISSUE_TOKENS}
    ),
    Role.REGULATORY: frozenset({Permission.READ}),
    Role.AUDITOR: frozenset({Permission.READ, Permission.READ_AUDIT}),
}
"""The role → permission table (documented in ``docs/api.md``)."""


def permissions_of(roles: Iterable[Role]) -> frozenset[Permission]:
    """Every permission any of ``roles`` grants."""
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    """Turn role names into roles; an unknown name is a :class:`UsageError` listing the known."""
    roles: set[Role] = set()
    for name in names:
        try:
            roles.add(Role(name.strip().lower()))
        except ValueError:
            raise UsageError(
                f"unknown role {name!r}", hint="roles: " + ", ".join(r.value for r in Role)
            ) from None
    return frozenset(roles)


def intersect_scopes(first: Scope, second: Scope) -> Scope:
    """The products both scopes allow (``None`` allows every product)."""
    if first is None:
        return second
    if second is None:
        return first
    return first & second


def scope_within(inner: Scope, outer: Scope) -> bool:
    """Whether every product ``inner`` allows is allowed by ``outer``."""
    if outer is None:
        return True
    return inner is not None and inner <= outer


def _has_controls(text: str) -> bool:
    return any(unicodedata.category(c) in {"Cc", "Cf", "Cs"} for c in text)


def check_user_name(name: str) -> str:
    """Return ``name`` if it is a valid user name, else raise :class:`UsageError`."""
    if not isinstance(name, str) or not USER_NAME_PATTERN.fullmatch(name):
        raise UsageError(
            f"not a valid user name: {name!r}",
            hint="use 1-128 letters, digits and . _ @ + -, starting with a letter or digit",
        )
    return name


def check_token_name(name: str) -> str:
    """Return ``name`` stripped if it is a usable token name (1-100 characters, no controls)."""
    stripped = name.strip() if isinstance(name, str) else ""
    if not stripped or len(stripped) > _TOKEN_NAME_MAX or _has_controls(stripped):
        raise UsageError(
            f"not a valid token name: {name!r}",
            hint=f"use 1-{_TOKEN_NAME_MAX} printable characters, e.g. 'ci-pipeline'",
        )
    return stripped


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a user, directly (password) or through one of its API tokens.

    ``roles`` and ``products`` are what is in effect for this call; ``token_id`` and
    ``expires_at`` name the token used (``None`` for a password login or the CLI)."""

    name: str
    roles: frozenset[Role]
    products: Scope = None
    token_id: str | None = None
    expires_at: datetime | None = None

    @property
    def is_token(self) -> bool:
        """Whether the caller authenticated with an API token."""
        return self.token_id is not None

    @property
    def permissions(self) -> frozenset[Permission]:
        """Every permission the caller's roles grant."""
        return permissions_of(self.roles)

    @property
    def actor(self) -> str:
        """How the audit trail names this caller: ``alice`` or ``alice (token 0123abcd...)``."""
        return self.name if self.token_id is None else f"{self.name} (token {self.token_id})"

    def has(self, permission: Permission) -> bool:
        """Whether the caller holds ``permission``."""
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        """Raise :class:`PermissionDeniedError` unless the caller holds ``permission``."""
        if not self.has(permission):
            raise PermissionDeniedError(
                f"{self.name} lacks the permission {permission.value!r}",
                hint="roles granting it: "
                + ", ".join(r.value for r, p in ROLE_PERMISSIONS.items() if permission in p),
            )

    def can_access_product(self, slug: str) -> bool:
        """Whether the caller's product scope includes the product ``slug``."""
        return self.products is None or slug in self.products

    def check_product(self, slug: str) -> None:
        """Raise :class:`PermissionDeniedError` if product ``slug`` is outside the caller's scope.

        Out-of-scope products are refused with 403, not hidden behind 404: slugs are not
        secret (they appear in reports and SBOM links), and a clear refusal is easier to
        diagnose than a product that seems to vanish (``docs/adr/0008-auth-and-api.md``)."""
        if not self.can_access_product(slug):
            raise PermissionDeniedError(f"{self.name} may not access product {slug!r}")


@dataclass(frozen=True, slots=True)
class User:
    """A stored user, without credentials."""

    name: str
    roles: frozenset[Role]
    products: Scope
    disabled: bool
    created_at: datetime
    has_password: bool

    def principal(self) -> Principal:
        """The caller this user is when authenticated directly (password or CLI)."""
        return Principal(name=self.name, roles=self.roles, products=self.products)


@dataclass(frozen=True, slots=True)
class NewUser:
    """A user to create: ``password_hash`` is an Argon2 hash (or ``None``: tokens only)."""

    name: str
    roles: frozenset[Role]
    products: Scope
    created_at: datetime
    password_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class UserCredentials:
    """A stored user with the password hash, for verifying a password (never shown)."""

    user: User
    password_hash: str | None = field(repr=False)


class TokenState(StrEnum):
    """Whether a token can still authenticate."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A stored API token, without its secret (which is never stored) or digest."""

    token_id: str
    owner: str
    name: str
    roles: frozenset[Role]
    products: Scope
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def state(self, at: datetime) -> TokenState:
        """The token's state at time ``at`` (revocation wins over expiry)."""
        if self.revoked_at is not None:
            return TokenState.REVOKED
        if at >= self.expires_at:
            return TokenState.EXPIRED
        return TokenState.ACTIVE


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token to store: its public id, the SHA-256 of its secret, owner, roles, scope, expiry."""

    token_id: str
    secret_sha256: str = field(repr=False)
    owner: str
    name: str
    roles: frozenset[Role]
    products: Scope
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenCredentials:
    """A stored token with its secret's digest and its owner, for authenticating a request."""

    token: ApiToken
    secret_sha256: str = field(repr=False)
    owner: User
