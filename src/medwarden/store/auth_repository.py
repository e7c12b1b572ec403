"""The SQL implementation of :class:`~medwarden.services.ports.AuthStore`: users and API tokens.

Every change of authority (a user created, a password set, a user disabled or enabled,
a token created or revoked) appends its audit event with
:func:`~medwarden.store.audit_repository.append_event` inside the *same* write
transaction, so the change and its record commit together or not at all.  Events
name users and token ids, roles, scopes and expiry; they never hold a password, a
password hash, a token secret or its digest.

Recording that a token was used (``last_used_at``) is bookkeeping, not a change of
authority: it is not audited (an event per request would bloat the chain) and is
written at most once per ``not_since`` interval per token.

Nothing here is cached: every call reads the database, so several API processes
see a new token or a revocation at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, RowMapping, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from medwarden.audit.chain import rfc3339
from medwarden.audit.model import EventDraft
from medwarden.auth.model import (
    ApiToken,
    NewToken,
    NewUser,
    Role,
    Scope,
    TokenCredentials,
    User,
    UserCredentials,
)
from medwarden.core.clock import ensure_utc
from medwarden.errors import ConflictError, NotFoundError, StoreError
from medwarden.store.audit_repository import append_event
from medwarden.store.schema_auth import api_token, app_user, user_product
from medwarden.store.schema_portfolio import product

if TYPE_CHECKING:
    from medwarden.store.db import Database

__all__ = ["TOKEN_SUBJECT", "USER_SUBJECT", "SqlAuth"]

USER_SUBJECT = "user"
"""The audit subject type of user events (the subject id is the user name)."""

TOKEN_SUBJECT = "api_token"  # noqa: S105 - a table name, not a secret
"""The audit subject type of token events (the subject id is the token id)."""


def _json(values: Iterable[str] | None) -> str | None:
    return None if values is None else orjson.dumps(sorted(values)).decode()


def _roles(text: str, owner: str) -> frozenset[Role]:
    try:
        return frozenset(Role(name) for name in orjson.loads(text))
    except (ValueError, TypeError) as exc:
        raise StoreError(
            f"the stored roles of {owner} cannot be read: {text!r}",
            hint="the auth tables were changed outside medwarden",
        ) from exc


def _scope(text: str | None, owner: str) -> Scope:
    if text is None:
        return None
    try:
        slugs = orjson.loads(text)
        if not isinstance(slugs, list) or not all(isinstance(s, str) for s in slugs):
            raise TypeError(text)
    except (ValueError, TypeError) as exc:
        raise StoreError(f"the stored product scope of {owner} cannot be read") from exc
    return frozenset(slugs)


def _listed(scope: Scope) -> list[str] | None:
    return None if scope is None else sorted(scope)


def _user_state(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "roles": sorted(user.roles),
        "products": _listed(user.products),
        "disabled": user.disabled,
        "password": user.has_password,
    }


def _token_state(token: ApiToken) -> dict[str, Any]:
    return {
        "token_id": token.token_id,
        "owner": token.owner,
        "name": token.name,
        "roles": sorted(token.roles),
        "products": _listed(token.products),
        "expires_at": rfc3339(token.expires_at),
    }


def _user_scopes(conn: Connection, user_pks: Sequence[int]) -> Mapping[int, set[str]]:
    scopes: dict[int, set[str]] = defaultdict(set)
    if user_pks:
        query = (
            select(user_product.c.user_pk, product.c.slug)
            .join(product, product.c.pk == user_product.c.product_pk)
            .where(user_product.c.user_pk.in_(user_pks))
        )
        for user_pk, slug in conn.execute(query):
            scopes[user_pk].add(slug)
    return scopes


def _read_users(
    conn: Connection, *conditions: Any, limit: int | None = None
) -> list[UserCredentials]:
    query = select(app_user).where(*conditions).order_by(app_user.c.name)
    if limit is not None:
        query = query.limit(limit)
    rows = conn.execute(query).mappings().all()
    scopes = _user_scopes(conn, [r["pk"] for r in rows if not r["all_products"]])
    return [
        UserCredentials(
            user=User(
                name=r["name"],
                roles=_roles(r["roles_json"], r["name"]),
                products=None if r["all_products"] else frozenset(scopes.get(r["pk"], ())),
                disabled=bool(r["disabled"]),
                created_at=r["created_at"],
                has_password=r["password_hash"] is not None,
            ),
            password_hash=r["password_hash"],
        )
        for r in rows
    ]


def _one_user(conn: Connection, name: str) -> UserCredentials | None:
    found = _read_users(conn, app_user.c.name == name)
    return found[0] if found else None


def _existing_user(conn: Connection, name: str) -> UserCredentials:
    found = _one_user(conn, name)
    if found is None:
        raise NotFoundError(
            f"there is no user {name!r}", hint="list users with `medwarden user list`"
        )
    return found


def _user_pk(conn: Connection, name: str) -> int:
    pk = conn.execute(select(app_user.c.pk).where(app_user.c.name == name)).scalar()
    if pk is None:
        raise NotFoundError(f"there is no user {name!r}")
    return int(pk)


def _product_pks(conn: Connection, slugs: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(slugs))
    if not wanted:
        return {}
    rows = conn.execute(select(product.c.slug, product.c.pk).where(product.c.slug.in_(wanted)))
    found = {slug: int(pk) for slug, pk in rows}
    missing = [slug for slug in wanted if slug not in found]
    if missing:
        raise NotFoundError(
            "there is no product " + ", ".join(repr(s) for s in missing),
            hint="product scopes name existing product slugs",
        )
    return found


def _token_query() -> Any:
    return select(api_token, app_user.c.name.label("owner_name")).join(
        app_user, app_user.c.pk == api_token.c.user_pk
    )


def _token(row: RowMapping) -> ApiToken:
    owner = str(row["owner_name"])
    return ApiToken(
        token_id=row["token_id"],
        owner=owner,
        name=row["name"],
        roles=_roles(row["roles_json"], f"token {row['token_id']}"),
        products=_scope(row["products_json"], f"token {row['token_id']}"),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


def _one_token(conn: Connection, token_id: str) -> RowMapping | None:
    return conn.execute(_token_query().where(api_token.c.token_id == token_id)).mappings().first()


class SqlAuth:
    """Users and API tokens in ``app_user``, ``user_product`` and ``api_token``."""

    def __init__(self, database: Database) -> None:
        self._database = database

    # -- users -----------------------------------------------------------------------

    def add_user(self, user: NewUser, *, actor: str) -> User:
        """Store a new user and its ``auth.user_create`` event; a taken name is a ConflictError."""
        with self._database.write("creating a user") as conn:
            if _one_user(conn, user.name) is not None:
                raise ConflictError(f"there is already a user {user.name!r}")
            pks = _product_pks(conn, user.products or ())
            try:
                user_pk = conn.execute(
                    insert(app_user)
                    .values(
                        name=user.name,
                        password_hash=user.password_hash,
                        roles_json=_json(r.value for r in user.roles),
                        all_products=user.products is None,
                        disabled=False,
                        created_at=user.created_at,
                    )
                    .returning(app_user.c.pk)
                ).scalar_one()
            except IntegrityError as exc:  # created concurrently since the check above
                raise ConflictError(f"there is already a user {user.name!r}") from exc
            if pks:
                conn.execute(
                    insert(user_product),
                    [{"user_pk": user_pk, "product_pk": pk} for pk in pks.values()],
                )
            stored = _existing_user(conn, user.name).user
            append_event(
                conn,
                EventDraft(
                    at=user.created_at,
                    actor=actor,
                    action="auth.user_create",
                    subject_type=USER_SUBJECT,
                    subject_id=user.name,
                    after=_user_state(stored),
                ),
            )
        return stored

    def user(self, name: str) -> User | None:
        """The user called ``name``, or ``None``."""
        with self._database.read("reading a user") as conn:
            found = _one_user(conn, name)
        return None if found is None else found.user

    def user_credentials(self, name: str) -> UserCredentials | None:
        """The user called ``name`` with its password hash (for verifying a password)."""
        with self._database.read("reading a user") as conn:
            return _one_user(conn, name)

    def users(self, *, after: str | None = None, limit: int | None = None) -> list[User]:
        """Users in name order, those named after ``after`` only, at most ``limit``."""
        conditions = [] if after is None else [app_user.c.name > after]
        with self._database.read("listing users") as conn:
            return [c.user for c in _read_users(conn, *conditions, limit=limit)]

    def set_password_hash(
        self,
        name: str,
        password_hash: str | None,
        *,
        actor: str,
        at: datetime,
        action: str = "auth.password_set",
    ) -> None:
        """Replace the user's password hash (``None`` removes it); audited as ``action``."""
        with self._database.write("setting a password") as conn:
            before = _existing_user(conn, name).user
            conn.execute(
                update(app_user).where(app_user.c.name == name).values(password_hash=password_hash)
            )
            append_event(
                conn,
                EventDraft(
                    at=at,
                    actor=actor,
                    action=action,
                    subject_type=USER_SUBJECT,
                    subject_id=name,
                    before={"password": before.has_password},
                    after={"password": password_hash is not None},
                ),
            )

    def set_disabled(self, name: str, disabled: bool, *, actor: str, at: datetime) -> User:
        """Disable (or enable) a user; audited as ``auth.user_disable``/``auth.user_enable``.

        Setting the state the user already has changes nothing and records nothing."""
        with self._database.write("disabling a user") as conn:
            before = _existing_user(conn, name).user
            if before.disabled == disabled:
                return before
            conn.execute(update(app_user).where(app_user.c.name == name).values(disabled=disabled))
            append_event(
                conn,
                EventDraft(
                    at=at,
                    actor=actor,
                    action="auth.user_disable" if disabled else "auth.user_enable",
                    subject_type=USER_SUBJECT,
                    subject_id=name,
                    before={"disabled": before.disabled},
                    after={"disabled": disabled},
                ),
            )
            return _existing_user(conn, name).user

    # -- tokens ----------------------------------------------------------------------

    def add_token(self, token: NewToken, *, actor: str) -> ApiToken:
        """Store a new token (its secret's digest only) and its ``auth.token_create`` event."""
        with self._database.write("creating an API token") as conn:
            owner_pk = _user_pk(conn, token.owner)
            _product_pks(conn, token.products or ())
            conn.execute(
                insert(api_token).values(
                    token_id=token.token_id,
                    secret_sha256=token.secret_sha256,
                    user_pk=owner_pk,
                    name=token.name,
                    roles_json=_json(r.value for r in token.roles),
                    products_json=_json(token.products),
                    created_at=token.created_at,
                    expires_at=token.expires_at,
                )
            )
            stored = ApiToken(
                token_id=token.token_id,
                owner=token.owner,
                name=token.name,
                roles=token.roles,
                products=token.products,
                created_at=ensure_utc(token.created_at),
                expires_at=ensure_utc(token.expires_at),
            )
            append_event(
                conn,
                EventDraft(
                    at=token.created_at,
                    actor=actor,
                    action="auth.token_create",
                    subject_type=TOKEN_SUBJECT,
                    subject_id=token.token_id,
                    after=_token_state(stored),
                ),
            )
        return stored

    def token(self, token_id: str) -> ApiToken | None:
        """The token with public id ``token_id``, or ``None``."""
        with self._database.read("reading an API token") as conn:
            row = _one_token(conn, token_id)
        return None if row is None else _token(row)

    def token_credentials(self, token_id: str) -> TokenCredentials | None:
        """The token, its secret's digest and its owner (current roles and scope), or ``None``."""
        with self._database.read("authenticating an API token") as conn:
            row = _one_token(conn, token_id)
            if row is None:
                return None
            owner = _existing_user(conn, str(row["owner_name"])).user
        return TokenCredentials(token=_token(row), secret_sha256=row["secret_sha256"], owner=owner)

    def tokens(
        self,
        *,
        owner: str | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int | None = None,
    ) -> list[ApiToken]:
        """Tokens (of ``owner``, or everyone's) in (created_at, token_id) order, after ``after``."""
        query = _token_query()
        if owner is not None:
            query = query.where(app_user.c.name == owner)
        if after is not None:
            at, token_id = after
            query = query.where(
                or_(
                    api_token.c.created_at > at,
                    and_(api_token.c.created_at == at, api_token.c.token_id > token_id),
                )
            )
        query = query.order_by(api_token.c.created_at, api_token.c.token_id)
        if limit is not None:
            query = query.limit(limit)
        with self._database.read("listing API tokens") as conn:
            return [_token(row) for row in conn.execute(query).mappings()]

    def revoke_token(self, token_id: str, *, actor: str, at: datetime) -> ApiToken:
        """Revoke a token now; audited as ``auth.token_revoke``.  Revoking twice changes nothing."""
        with self._database.write("revoking an API token") as conn:
            row = _one_token(conn, token_id)
            if row is None:
                raise NotFoundError(f"there is no API token {token_id!r}")
            if row["revoked_at"] is not None:
                return _token(row)
            conn.execute(
                update(api_token).where(api_token.c.token_id == token_id).values(revoked_at=at)
            )
            token = replace(_token(row), revoked_at=ensure_utc(at))
            append_event(
                conn,
                EventDraft(
                    at=at,
                    actor=actor,
                    action="auth.token_revoke",
                    subject_type=TOKEN_SUBJECT,
                    subject_id=token_id,
                    before={"revoked_at": None},
                    after={**_token_state(token), "revoked_at": rfc3339(at)},
                ),
            )
        return token

    def touch_token(self, token_id: str, at: datetime, *, not_since: datetime) -> None:
        """Set ``last_used_at = at`` unless the token was already used at or after ``not_since``."""
        c = api_token.c
        with self._database.write("recording API token use") as conn:
            conn.execute(
                update(api_token)
                .where(c.token_id == token_id)
                .where(or_(c.last_used_at.is_(None), c.last_used_at < not_since))
                .values(last_used_at=at)
            )
