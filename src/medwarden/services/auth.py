"""Authentication use cases: users, passwords, API tokens, and who a request comes from.

The same functions serve the CLI (``medwarden user|token``) and the API.  A use case
that acts *for a caller* takes ``issuer``: the :class:`Principal` making the change
(the API passes the authenticated caller), or ``None`` for the operator of the CLI,
who has direct access to the database anyway.  ``actor`` is how the audit trail names
whoever made the change.

Rules enforced here (``docs/adr/0008-auth-and-api.md``):

* a token's roles are a subset of its owner's roles and of the issuer's; its product
  scope lies within both; it expires within ``max_lifetime`` (and, when a token creates
  a token, no later than the creating token);
* authentication re-checks everything on every call against the database: a token
  authenticates only while it is unexpired, unrevoked and its owner enabled, and its
  effective roles and scope are intersected with the owner's *current* ones;
* an unknown token id and a wrong secret give the same error after the same work;
  likewise an unknown user and a wrong password.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from medwarden.auth.model import (
    ApiToken,
    NewToken,
    NewUser,
    Permission,
    Principal,
    Role,
    Scope,
    TokenState,
    User,
    check_token_name,
    check_user_name,
    intersect_scopes,
    permissions_of,
    scope_within,
)
from medwarden.auth.passwords import DEFAULT_HASHING, PasswordHashing
from medwarden.auth.tokens import generate_token, parse_token, secret_matches
from medwarden.core.clock import Clock
from medwarden.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RuleViolationError,
    UsageError,
)
from medwarden.services.ports import AuthStore

__all__ = [
    "DEFAULT_TOKEN_MAX_LIFETIME",
    "TOUCH_INTERVAL",
    "IssuedToken",
    "authenticate",
    "authenticate_password",
    "create_token",
    "create_user",
    "revoke_token",
    "set_disabled",
    "set_password",
    "visible_token",
    "visible_tokens",
]

DEFAULT_TOKEN_MAX_LIFETIME = timedelta(days=90)
"""The longest lifetime a token may be given unless the settings say otherwise."""

TOUCH_INTERVAL = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token (one write per request is waste)."""

_FAILED = "unknown or invalid API token"
_BAD_LOGIN = "unknown user or wrong password"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created: the stored record and the plaintext, shown this once only."""

    token: ApiToken
    plaintext: str = field(repr=False)


def _scope(products: Iterable[str] | None) -> Scope:
    if products is None:
        return None
    scope = frozenset(p.strip() for p in products)
    if not scope or any(not p for p in scope):
        raise UsageError(
            "a product scope needs at least one product slug",
            hint="leave the products out for access to every product",
        )
    return scope


def _roles(roles: Iterable[Role]) -> frozenset[Role]:
    chosen = frozenset(roles)
    if not chosen:
        raise UsageError(
            "at least one role is needed", hint="roles: " + ", ".join(r.value for r in Role)
        )
    return chosen


def create_user(
    store: AuthStore,
    name: str,
    *,
    roles: Iterable[Role],
    products: Iterable[str] | None = None,
    password: str | None = None,
    actor: str,
    clock: Clock,
    issuer: Principal | None = None,
    hashing: PasswordHashing = DEFAULT_HASHING,
) -> User:
    """Create a user with roles, a product scope (``None``: every product) and a password.

    Without a password the user can only act through API tokens (a service account).
    The password is hashed with Argon2id; it is never stored or recorded.  An ``issuer``
    needs ``manage_users`` and cannot grant permissions or products it lacks itself."""
    chosen, scope = _roles(roles), _scope(products)
    if issuer is not None:
        issuer.require(Permission.MANAGE_USERS)
        if not permissions_of(chosen) <= issuer.permissions:
            raise PermissionDeniedError("a user cannot be granted permissions its creator lacks")
        if not scope_within(scope, issuer.products):
            raise PermissionDeniedError("a user cannot reach products its creator cannot")
    user = NewUser(
        name=check_user_name(name),
        roles=chosen,
        products=scope,
        created_at=clock.now(),
        password_hash=None if password is None else hashing.hash(password),
    )
    return store.add_user(user, actor=actor)


def set_password(
    store: AuthStore,
    name: str,
    password: str | None,
    *,
    actor: str,
    clock: Clock,
    hashing: PasswordHashing = DEFAULT_HASHING,
) -> None:
    """Set (or, with ``None``, remove) a user's password."""
    password_hash = None if password is None else hashing.hash(password)
    store.set_password_hash(name, password_hash, actor=actor, at=clock.now())


def set_disabled(
    store: AuthStore,
    name: str,
    disabled: bool,
    *,
    actor: str,
    clock: Clock,
    issuer: Principal | None = None,
) -> User:
    """Disable (or enable) a user: a disabled user's tokens and password stop working at once.

    Nobody may disable themselves (that would lock the last administrator out)."""
    if issuer is not None:
        issuer.require(Permission.MANAGE_USERS)
        if disabled and issuer.name == name:
            raise RuleViolationError("you cannot disable yourself", hint="ask another admin")
    return store.set_disabled(name, disabled, actor=actor, at=clock.now())


def _check_issuer(
    issuer: Principal, roles: frozenset[Role], products: Scope, expires_at: datetime
) -> None:
    """What the caller may hand out: its own roles, products and (for a token) lifetime."""
    beyond = roles - issuer.roles
    if beyond:
        raise PermissionDeniedError(
            "a token cannot hold roles its creator lacks: "
            + ", ".join(sorted(r.value for r in beyond))
        )
    if not scope_within(products, issuer.products):
        raise PermissionDeniedError("a token cannot reach products its creator cannot")
    if issuer.expires_at is not None and expires_at > issuer.expires_at:
        raise RuleViolationError(
            "a token cannot outlive the token that creates it",
            hint=f"expire it by {issuer.expires_at.isoformat()}",
        )


def _check_owner(owner: User, roles: frozenset[Role], products: Scope) -> None:
    """What the owner holds: a token is a subset of its (enabled) owner."""
    if owner.disabled:
        raise RuleViolationError(f"user {owner.name!r} is disabled")
    beyond = roles - owner.roles
    if beyond:
        raise RuleViolationError(
            f"user {owner.name!r} does not hold the role(s) "
            + ", ".join(sorted(r.value for r in beyond)),
            hint="a token's roles are a subset of its owner's",
        )
    if products is not None and not scope_within(products, owner.products):
        raise RuleViolationError(
            f"the product scope exceeds that of user {owner.name!r}",
            hint="a token's products are a subset of its owner's",
        )


def create_token(
    store: AuthStore,
    *,
    owner: str,
    name: str,
    roles: Iterable[Role],
    lifetime: timedelta,
    products: Iterable[str] | None = None,
    max_lifetime: timedelta = DEFAULT_TOKEN_MAX_LIFETIME,
    actor: str,
    clock: Clock,
    issuer: Principal | None = None,
) -> IssuedToken:
    """Create an API token for ``owner``; return it with its plaintext (shown once).

    ``issuer`` is the caller creating it (``None``: the CLI operator); through the API a
    caller creates tokens for itself only, which needs ``issue_tokens``.  Without
    ``products`` the token has the issuer's scope (the owner's whole scope when the
    CLI operator creates it)."""
    if issuer is not None:
        issuer.require(Permission.ISSUE_TOKENS)
        if issuer.name != owner:
            issuer.require(Permission.MANAGE_USERS)
    if lifetime <= timedelta(0) or lifetime > max_lifetime:
        raise RuleViolationError(
            f"a token's lifetime must be more than 0 and at most {max_lifetime.days} days",
            hint="the maximum is MEDWARDEN_TOKEN_MAX_DAYS",
        )
    chosen = _roles(roles)
    scope = _scope(products)
    if scope is None and issuer is not None:
        scope = issuer.products
    now = clock.now()
    user = store.user(owner)
    if user is None:
        raise NotFoundError(f"there is no user {owner!r}")
    if issuer is not None:
        _check_issuer(issuer, chosen, scope, now + lifetime)
    _check_owner(user, chosen, scope)
    secret = generate_token()
    token = store.add_token(
        NewToken(
            token_id=secret.token_id,
            secret_sha256=secret.digest,
            owner=owner,
            name=check_token_name(name),
            roles=chosen,
            products=scope,
            created_at=now,
            expires_at=now + lifetime,
        ),
        actor=actor,
    )
    return IssuedToken(token=token, plaintext=secret.plaintext)


def revoke_token(
    store: AuthStore,
    token_id: str,
    *,
    actor: str,
    clock: Clock,
    issuer: Principal | None = None,
) -> ApiToken:
    """Revoke a token at once (idempotent).  Callers revoke their own; admins anyone's."""
    token = store.token(token_id)
    if token is None:
        raise NotFoundError(f"there is no API token {token_id!r}")
    if issuer is not None:
        if issuer.name == token.owner:
            issuer.require(Permission.ISSUE_TOKENS)
        else:
            issuer.require(Permission.MANAGE_USERS)
    return store.revoke_token(token_id, actor=actor, at=clock.now())


def visible_tokens(
    store: AuthStore,
    issuer: Principal,
    *,
    owner: str | None = None,
    everyone: bool = False,
    after: tuple[datetime, str] | None = None,
    limit: int | None = None,
) -> list[ApiToken]:
    """Tokens the caller may list: its own, or (``manage_users``) another's or everyone's."""
    if everyone or (owner is not None and owner != issuer.name):
        issuer.require(Permission.MANAGE_USERS)
    chosen = None if everyone else (owner or issuer.name)
    return store.tokens(owner=chosen, after=after, limit=limit)


def visible_token(store: AuthStore, issuer: Principal, token_id: str) -> ApiToken:
    """One token, if it is the caller's own or the caller may manage users."""
    token = store.token(token_id)
    if token is None:
        raise NotFoundError(f"there is no API token {token_id!r}")
    if token.owner != issuer.name:
        issuer.require(Permission.MANAGE_USERS)
    return token


def authenticate(store: AuthStore, text: str, *, clock: Clock) -> Principal:
    """The caller a token string stands for; AuthenticationError unless it may act now.

    Refused: malformed, unknown, wrong secret, expired, revoked, or owner disabled."""
    secret = parse_token(text)
    found = store.token_credentials(secret.token_id)
    matched = secret_matches(secret.secret, None if found is None else found.secret_sha256)
    if found is None or not matched:
        raise AuthenticationError(_FAILED)
    token, owner = found.token, found.owner
    now = clock.now()
    state = token.state(now)
    if state is TokenState.REVOKED:
        raise AuthenticationError(f"API token {token.token_id} was revoked")
    if state is TokenState.EXPIRED:
        raise AuthenticationError(
            f"API token {token.token_id} expired at {token.expires_at.isoformat()}",
            hint="create a new token",
        )
    if owner.disabled:
        raise AuthenticationError(f"the owner of API token {token.token_id} is disabled")
    if token.last_used_at is None or token.last_used_at <= now - TOUCH_INTERVAL:
        store.touch_token(token.token_id, now, not_since=now - TOUCH_INTERVAL)
    return Principal(
        name=owner.name,
        roles=token.roles & owner.roles,
        products=intersect_scopes(token.products, owner.products),
        token_id=token.token_id,
        expires_at=token.expires_at,
    )


def authenticate_password(
    store: AuthStore,
    name: str,
    password: str,
    *,
    clock: Clock,
    hashing: PasswordHashing = DEFAULT_HASHING,
) -> Principal:
    """The user a name and password stand for; AuthenticationError otherwise.

    A hash made with older Argon2 parameters is replaced after a successful check
    (audited as ``auth.password_rehash``)."""
    found = store.user_credentials(name)
    if found is None or found.password_hash is None:
        hashing.verify_nothing(password)
        raise AuthenticationError(_BAD_LOGIN)
    if not hashing.verify(found.password_hash, password):
        raise AuthenticationError(_BAD_LOGIN)
    if found.user.disabled:
        raise AuthenticationError(f"user {name!r} is disabled")
    if hashing.needs_rehash(found.password_hash):
        store.set_password_hash(
            name,
            hashing.hash(password, check_policy=False),
            actor=name,
            at=clock.now(),
            action="auth.password_rehash",
        )
    return found.user.principal()
