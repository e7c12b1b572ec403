"""Authentication and authorisation: roles, permissions, password and API-token hashing.

:class:`Role` → :class:`Permission` is one table (:data:`ROLE_PERMISSIONS`); a
:class:`Principal` is the authenticated caller and checks permissions and product
scope.  Passwords are hashed with Argon2id (:mod:`medwarden.auth.passwords`), API
tokens are random ``mwt_<id>_<secret>`` strings stored as the SHA-256 of the secret
(:mod:`medwarden.auth.tokens`).  See ``docs/adr/0008-auth-and-api.md``.
"""

from __future__ import annotations

from medwarden.auth.model import (
    ROLE_PERMISSIONS,
    ApiToken,
    NewToken,
    NewUser,
    Permission,
    Principal,
    Role,
    Scope,
    TokenCredentials,
    TokenState,
    User,
    UserCredentials,
    intersect_scopes,
    parse_roles,
    permissions_of,
    scope_within,
)
from medwarden.auth.passwords import DEFAULT_HASHING, PasswordHashing
from medwarden.auth.tokens import TokenSecret, generate_token, parse_token

__all__ = [
    "DEFAULT_HASHING",
    "ROLE_PERMISSIONS",
    "ApiToken",
    "NewToken",
    "NewUser",
    "PasswordHashing",
    "Permission",
    "Principal",
    "Role",
    "Scope",
    "TokenCredentials",
    "TokenSecret",
    "TokenState",
    "User",
    "UserCredentials",
    "generate_token",
    "intersect_scopes",
    "parse_roles",
    "parse_token",
    "permissions_of",
    "scope_within",
]
