"""Authentication use cases on the store (SQLite and PostgreSQL), with their audit events."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from medwarden.audit import verify_chain
from medwarden.auth.model import Permission, Principal, Role, TokenState
from medwarden.auth.passwords import PasswordHashing
from medwarden.auth.tokens import parse_token
from medwarden.core.clock import FixedClock
from medwarden.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RuleViolationError,
    UsageError,
)
from medwarden.services.auth import (
    TOUCH_INTERVAL,
    IssuedToken,
    authenticate,
    authenticate_password,
    create_token,
    create_user,
    revoke_token,
    set_disabled,
    set_password,
    visible_token,
    visible_tokens,
)
from medwarden.store import SqlStore, open_store
from medwarden.store.schema_auth import api_token, app_user
from tests.auth.conftest import FAST_HASHING, T0, add_product

PASSWORD = "correct horse battery staple"
DAY = timedelta(days=1)


def user(store: SqlStore, clock: FixedClock, name: str, *roles: Role, **kwargs: Any) -> None:
    """Create a user (the CLI operator as issuer) with cheap hashing."""
    create_user(
        store.auth,
        name,
        roles=roles,
        actor="operator",
        clock=clock,
        hashing=FAST_HASHING,
        **kwargs,
    )


def token(
    store: SqlStore, clock: FixedClock, owner: str, *roles: Role, **kwargs: Any
) -> IssuedToken:
    """Create a token for ``owner``, 30 days unless told otherwise."""
    kwargs.setdefault("lifetime", 30 * DAY)
    return create_token(
        store.auth, owner=owner, name="test", roles=roles, actor="operator", clock=clock, **kwargs
    )


def audit_text(store: SqlStore) -> str:
    """Every stored audit event as one JSON text (to search for leaked secrets)."""
    return json.dumps(
        [{"before": e.before, "after": e.after, "reason": e.reason} for e in store.audit.events()]
    )


def test_create_user_is_audited_without_the_password(store: SqlStore, clock: FixedClock) -> None:
    """The user is stored with an Argon2 hash; the audit event names it, never the hash."""
    user(store, clock, "alice", Role.SECURITY_ANALYST, password=PASSWORD)
    stored = store.auth.user("alice")
    assert stored is not None
    assert stored.roles == {Role.SECURITY_ANALYST}
    assert stored.products is None
    assert stored.has_password
    assert stored.created_at == T0
    credentials = store.auth.user_credentials("alice")
    assert credentials is not None
    assert credentials.password_hash is not None
    assert PASSWORD not in repr(credentials)
    (event,) = store.audit.events()
    assert (event.action, event.subject_type, event.subject_id) == (
        "auth.user_create",
        "user",
        "alice",
    )
    assert event.actor == "operator"
    assert event.after == {
        "name": "alice",
        "roles": ["security_analyst"],
        "products": None,
        "disabled": False,
        "password": True,
    }
    text = audit_text(store)
    assert PASSWORD not in text
    assert credentials.password_hash not in text
    assert "argon2" not in text


def test_user_names_are_unique(store: SqlStore, clock: FixedClock) -> None:
    """A second user of the same name is a conflict; nothing more is recorded."""
    user(store, clock, "alice", Role.ADMIN)
    with pytest.raises(ConflictError, match="already a user 'alice'"):
        user(store, clock, "alice", Role.AUDITOR)
    assert store.audit.head()[0] == 1


def test_user_input_is_checked(store: SqlStore, clock: FixedClock) -> None:
    """Bad names, no roles, empty scopes, short passwords are refused before writing."""
    with pytest.raises(UsageError, match="not a valid user name"):
        user(store, clock, "no spaces", Role.ADMIN)
    with pytest.raises(UsageError, match="at least one role"):
        user(store, clock, "alice")
    with pytest.raises(UsageError, match="at least one product"):
        user(store, clock, "alice", Role.ADMIN, products=[])
    with pytest.raises(RuleViolationError, match="shorter"):
        user(store, clock, "alice", Role.ADMIN, password="short")
    assert store.auth.users() == []
    assert store.audit.head()[0] == 0


def test_product_scopes(store: SqlStore, clock: FixedClock) -> None:
    """A scoped user lists its products; an unknown product slug is not found."""
    add_product(store, "infusion-pump")
    add_product(store, "monitor")
    user(store, clock, "rita", Role.REGULATORY, products=["infusion-pump"])
    stored = store.auth.user("rita")
    assert stored is not None
    assert stored.products == {"infusion-pump"}
    with pytest.raises(NotFoundError, match="no product 'ventilator'"):
        user(store, clock, "sam", Role.REGULATORY, products=["ventilator", "monitor"])
    assert store.auth.user("sam") is None


def test_users_are_listed_in_name_order_with_keyset(store: SqlStore, clock: FixedClock) -> None:
    """``users(after, limit)`` pages through users by name."""
    for name in ("carol", "alice", "bob", "dave"):
        user(store, clock, name, Role.AUDITOR)
    assert [u.name for u in store.auth.users()] == ["alice", "bob", "carol", "dave"]
    assert [u.name for u in store.auth.users(after="bob", limit=1)] == ["carol"]


def test_token_authenticates_to_its_owner(store: SqlStore, clock: FixedClock) -> None:
    """A fresh token authenticates as its owner with the token's roles; use is recorded."""
    user(store, clock, "alice", Role.SECURITY_ANALYST, Role.AUDITOR)
    issued = token(store, clock, "alice", Role.AUDITOR)
    assert issued.plaintext not in repr(issued)
    principal = authenticate(store.auth, issued.plaintext, clock=clock)
    assert principal == Principal(
        name="alice",
        roles=frozenset({Role.AUDITOR}),
        products=None,
        token_id=issued.token.token_id,
        expires_at=T0 + 30 * DAY,
    )
    assert principal.has(Permission.READ_AUDIT)
    assert not principal.has(Permission.TRIAGE)
    stored = store.auth.token(issued.token.token_id)
    assert stored is not None
    assert stored.last_used_at == T0
    assert stored.state(T0) is TokenState.ACTIVE


def test_token_creation_is_audited_without_the_secret(store: SqlStore, clock: FixedClock) -> None:
    """``auth.token_create`` names id, owner, roles, expiry; never the secret or its digest."""
    user(store, clock, "alice", Role.ADMIN)
    issued = token(store, clock, "alice", Role.ADMIN)
    event = list(store.audit.events())[-1]
    assert (event.action, event.subject_type) == ("auth.token_create", "api_token")
    assert event.subject_id == issued.token.token_id
    assert event.after is not None
    assert event.after["owner"] == "alice"
    assert event.after["roles"] == ["admin"]
    assert event.after["expires_at"] == "2026-12-25T09:00:00.000000Z"
    with store.database.read("test") as conn:
        digest = conn.execute(select(api_token.c.secret_sha256)).scalar_one()
    secret = parse_token(issued.plaintext).secret  # it may itself contain "_"
    text = audit_text(store)
    for leaked in (issued.plaintext, secret, digest):
        assert leaked not in text
    assert secret not in digest
    assert verify_chain(store.audit.events()).count == 2


def test_last_use_is_written_at_most_once_a_minute(store: SqlStore, clock: FixedClock) -> None:
    """Within TOUCH_INTERVAL the stored last use stays; after it, it moves; never audited."""
    user(store, clock, "alice", Role.ADMIN)
    issued = token(store, clock, "alice", Role.ADMIN)
    events = store.audit.head()[0]
    authenticate(store.auth, issued.plaintext, clock=clock)
    clock.set(T0 + TOUCH_INTERVAL / 2)
    authenticate(store.auth, issued.plaintext, clock=clock)
    assert store.auth.token(issued.token.token_id).last_used_at == T0  # type: ignore[union-attr]
    clock.set(T0 + TOUCH_INTERVAL * 2)
    authenticate(store.auth, issued.plaintext, clock=clock)
    stored = store.auth.token(issued.token.token_id)
    assert stored is not None
    assert stored.last_used_at == T0 + TOUCH_INTERVAL * 2
    assert store.audit.head()[0] == events


@pytest.mark.parametrize(
    "mutate",
    ["wrong-secret", "unknown-id", "expired", "revoked", "disabled-owner", "malformed"],
)
def test_refused_tokens(store: SqlStore, clock: FixedClock, mutate: str) -> None:
    """Each way a token can be unusable is an AuthenticationError (HTTP 401)."""
    user(store, clock, "alice", Role.ADMIN)
    issued = token(store, clock, "alice", Role.ADMIN, lifetime=DAY)
    text = issued.plaintext
    message = "unknown or invalid API token"
    if mutate == "wrong-secret":
        text = text[:-1] + ("A" if text[-1] != "A" else "B")
    elif mutate == "unknown-id":
        text = "mwt_" + "0" * 16 + text[20:]
    elif mutate == "expired":
        clock.set(T0 + DAY)
        message = "expired"
    elif mutate == "revoked":
        revoke_token(store.auth, issued.token.token_id, actor="operator", clock=clock)
        message = "was revoked"
    elif mutate == "disabled-owner":
        set_disabled(store.auth, "alice", True, actor="operator", clock=clock)
        message = "owner .* is disabled"
    else:
        text = text + "x"
        message = "malformed"
    with pytest.raises(AuthenticationError, match=message):
        authenticate(store.auth, text, clock=clock)


def test_reenabling_a_user_restores_its_tokens(store: SqlStore, clock: FixedClock) -> None:
    """Disable and enable are audited state changes; repeating one records nothing."""
    user(store, clock, "alice", Role.ADMIN)
    issued = token(store, clock, "alice", Role.ADMIN)
    set_disabled(store.auth, "alice", True, actor="op", clock=clock)
    set_disabled(store.auth, "alice", True, actor="op", clock=clock)
    set_disabled(store.auth, "alice", False, actor="op", clock=clock)
    assert authenticate(store.auth, issued.plaintext, clock=clock).name == "alice"
    actions = [e.action for e in store.audit.events()]
    assert actions[-2:] == ["auth.user_disable", "auth.user_enable"]
    with pytest.raises(NotFoundError):
        set_disabled(store.auth, "nobody", True, actor="op", clock=clock)


def test_revocation_is_audited_once(store: SqlStore, clock: FixedClock) -> None:
    """Revoking is idempotent and recorded once; unknown ids are not found."""
    user(store, clock, "alice", Role.ADMIN)
    issued = token(store, clock, "alice", Role.ADMIN)
    first = revoke_token(store.auth, issued.token.token_id, actor="op", clock=clock)
    clock.set(T0 + DAY)
    again = revoke_token(store.auth, issued.token.token_id, actor="op", clock=clock)
    assert first.revoked_at == again.revoked_at == T0
    assert again.state(T0) is TokenState.REVOKED
    revocations = [e for e in store.audit.events() if e.action == "auth.token_revoke"]
    assert len(revocations) == 1
    assert revocations[0].subject_id == issued.token.token_id
    with pytest.raises(NotFoundError):
        revoke_token(store.auth, "0" * 16, actor="op", clock=clock)


def test_token_limits(store: SqlStore, clock: FixedClock) -> None:
    """Roles within the owner's, lifetime within the maximum, an enabled, existing owner."""
    add_product(store, "pump")
    add_product(store, "monitor")
    user(store, clock, "alice", Role.SECURITY_ANALYST, products=["pump"])
    with pytest.raises(RuleViolationError, match="does not hold the role"):
        token(store, clock, "alice", Role.ADMIN)
    with pytest.raises(RuleViolationError, match="at most 90 days"):
        token(store, clock, "alice", Role.SECURITY_ANALYST, lifetime=91 * DAY)
    with pytest.raises(RuleViolationError, match="at most 7 days"):
        token(store, clock, "alice", Role.SECURITY_ANALYST, max_lifetime=7 * DAY)
    with pytest.raises(RuleViolationError, match="more than 0"):
        token(store, clock, "alice", Role.SECURITY_ANALYST, lifetime=timedelta(0))
    with pytest.raises(RuleViolationError, match="product scope exceeds"):
        token(store, clock, "alice", Role.SECURITY_ANALYST, products=["monitor"])
    with pytest.raises(NotFoundError, match="no user 'bob'"):
        token(store, clock, "bob", Role.AUDITOR)
    with pytest.raises(UsageError, match="not a valid token name"):
        create_token(
            store.auth,
            owner="alice",
            name=" ",
            roles=[Role.SECURITY_ANALYST],
            lifetime=DAY,
            actor="op",
            clock=clock,
        )
    set_disabled(store.auth, "alice", True, actor="op", clock=clock)
    with pytest.raises(RuleViolationError, match="disabled"):
        token(store, clock, "alice", Role.SECURITY_ANALYST)
    assert store.auth.tokens() == []


def test_effective_rights_follow_the_owner(store: SqlStore, clock: FixedClock) -> None:
    """A token's scope is intersected with its owner's current scope at every call."""
    add_product(store, "pump")
    add_product(store, "monitor")
    user(store, clock, "alice", Role.REGULATORY, products=["pump", "monitor"])
    scoped = token(store, clock, "alice", Role.REGULATORY, products=["monitor"])
    whole = token(store, clock, "alice", Role.REGULATORY)
    assert authenticate(store.auth, scoped.plaintext, clock=clock).products == {"monitor"}
    assert authenticate(store.auth, whole.plaintext, clock=clock).products == {"pump", "monitor"}


def test_issuer_limits(store: SqlStore, clock: FixedClock) -> None:
    """Through the API a caller mints tokens within its own roles, scope and expiry."""
    add_product(store, "pump")
    add_product(store, "monitor")
    user(store, clock, "ana", Role.SECURITY_ANALYST, Role.AUDITOR)
    user(store, clock, "rita", Role.REGULATORY)
    parent = token(store, clock, "ana", Role.SECURITY_ANALYST, lifetime=10 * DAY)
    caller = authenticate(store.auth, parent.plaintext, clock=clock)
    child = token(store, clock, "ana", Role.SECURITY_ANALYST, lifetime=5 * DAY, issuer=caller)
    assert child.token.roles == {Role.SECURITY_ANALYST}
    with pytest.raises(PermissionDeniedError, match="roles its creator lacks: auditor"):
        token(store, clock, "ana", Role.AUDITOR, issuer=caller, lifetime=DAY)
    with pytest.raises(RuleViolationError, match="outlive"):
        token(store, clock, "ana", Role.SECURITY_ANALYST, lifetime=11 * DAY, issuer=caller)
    with pytest.raises(PermissionDeniedError, match="manage_users"):
        token(store, clock, "rita", Role.REGULATORY, issuer=caller, lifetime=DAY)
    reader = authenticate(
        store.auth, token(store, clock, "rita", Role.REGULATORY).plaintext, clock=clock
    )
    with pytest.raises(PermissionDeniedError, match="issue_tokens"):
        token(store, clock, "rita", Role.REGULATORY, issuer=reader, lifetime=DAY)
    scoped = Principal("ana", frozenset({Role.SECURITY_ANALYST}), products=frozenset({"pump"}))
    narrowed = token(store, clock, "ana", Role.SECURITY_ANALYST, issuer=scoped, lifetime=DAY)
    assert narrowed.token.products == {"pump"}  # the issuer's scope by default
    with pytest.raises(PermissionDeniedError, match="products its creator cannot"):
        token(
            store,
            clock,
            "ana",
            Role.SECURITY_ANALYST,
            issuer=scoped,
            lifetime=DAY,
            products=["monitor"],
        )


def test_creating_users_as_a_caller(store: SqlStore, clock: FixedClock) -> None:
    """A caller needs manage_users and grants neither permissions nor products beyond its own."""
    add_product(store, "pump")
    admin = Principal("root", frozenset({Role.ADMIN}))
    scoped_admin = Principal("sub", frozenset({Role.ADMIN}), products=frozenset({"pump"}))
    analyst = Principal("ana", frozenset({Role.SECURITY_ANALYST}))
    user(store, clock, "rita", Role.REGULATORY, issuer=admin)
    user(store, clock, "sam", Role.REGULATORY, products=["pump"], issuer=scoped_admin)
    with pytest.raises(PermissionDeniedError, match="products its creator cannot"):
        user(store, clock, "tom", Role.REGULATORY, issuer=scoped_admin)
    with pytest.raises(PermissionDeniedError, match="manage_users"):
        user(store, clock, "tom", Role.REGULATORY, issuer=analyst)
    assert {u.name for u in store.auth.users()} == {"rita", "sam"}


def test_visibility_of_tokens(store: SqlStore, clock: FixedClock) -> None:
    """Callers see their own tokens; admins see anyone's."""
    user(store, clock, "ana", Role.SECURITY_ANALYST)
    user(store, clock, "root", Role.ADMIN)
    mine = token(store, clock, "ana", Role.SECURITY_ANALYST)
    theirs = token(store, clock, "root", Role.ADMIN)
    ana = Principal("ana", frozenset({Role.SECURITY_ANALYST}))
    root = Principal("root", frozenset({Role.ADMIN}))
    assert [t.token_id for t in visible_tokens(store.auth, ana)] == [mine.token.token_id]
    assert len(visible_tokens(store.auth, root, everyone=True)) == 2
    assert visible_tokens(store.auth, root, owner="ana")[0].owner == "ana"
    with pytest.raises(PermissionDeniedError):
        visible_tokens(store.auth, ana, owner="root")
    with pytest.raises(PermissionDeniedError):
        visible_tokens(store.auth, ana, everyone=True)
    assert visible_token(store.auth, root, mine.token.token_id).owner == "ana"
    with pytest.raises(PermissionDeniedError):
        visible_token(store.auth, ana, theirs.token.token_id)
    with pytest.raises(NotFoundError):
        visible_token(store.auth, ana, "f" * 16)
    with pytest.raises(PermissionDeniedError, match="manage_users"):
        revoke_token(store.auth, theirs.token.token_id, actor="ana", clock=clock, issuer=ana)
    revoked = revoke_token(store.auth, mine.token.token_id, actor="ana", clock=clock, issuer=ana)
    assert revoked.revoked_at == T0


def test_tokens_keyset_breaks_ties_by_id(store: SqlStore, clock: FixedClock) -> None:
    """Tokens created at the same instant page by token id, each exactly once."""
    user(store, clock, "root", Role.ADMIN)
    ids = sorted(token(store, clock, "root", Role.ADMIN).token.token_id for _ in range(5))
    seen: list[str] = []
    after = None
    while True:
        page = store.auth.tokens(after=after, limit=2)
        if not page:
            break
        seen += [t.token_id for t in page]
        after = (page[-1].created_at, page[-1].token_id)
    assert seen == ids


def test_password_authentication(store: SqlStore, clock: FixedClock) -> None:
    """Right password: the user; wrong, unknown, token-only or disabled: refused alike."""
    user(store, clock, "alice", Role.AUDITOR, password=PASSWORD)
    user(store, clock, "svc", Role.AUDITOR)
    principal = authenticate_password(
        store.auth, "alice", PASSWORD, clock=clock, hashing=FAST_HASHING
    )
    assert principal == Principal("alice", frozenset({Role.AUDITOR}))
    for name, password in (("alice", PASSWORD + "!"), ("nobody", PASSWORD), ("svc", PASSWORD)):
        with pytest.raises(AuthenticationError, match="unknown user or wrong password"):
            authenticate_password(store.auth, name, password, clock=clock, hashing=FAST_HASHING)
    set_disabled(store.auth, "alice", True, actor="op", clock=clock)
    with pytest.raises(AuthenticationError, match="disabled"):
        authenticate_password(store.auth, "alice", PASSWORD, clock=clock, hashing=FAST_HASHING)


def test_old_hashes_are_upgraded_at_login(store: SqlStore, clock: FixedClock) -> None:
    """A login with older Argon2 parameters re-hashes the password (audited, no secret)."""
    user(store, clock, "alice", Role.AUDITOR, password=PASSWORD)
    stronger = PasswordHashing(time_cost=2, memory_cost=2048, parallelism=1)
    old = store.auth.user_credentials("alice").password_hash  # type: ignore[union-attr]
    authenticate_password(store.auth, "alice", PASSWORD, clock=clock, hashing=stronger)
    new = store.auth.user_credentials("alice").password_hash  # type: ignore[union-attr]
    assert new != old
    assert new is not None
    assert not stronger.needs_rehash(new)
    event = list(store.audit.events())[-1]
    assert (event.action, event.actor, event.after) == (
        "auth.password_rehash",
        "alice",
        {"password": True},
    )
    authenticate_password(store.auth, "alice", PASSWORD, clock=clock, hashing=stronger)
    assert list(store.audit.events())[-1].seq == event.seq  # no second upgrade
    assert new not in audit_text(store)


def test_set_password(store: SqlStore, clock: FixedClock) -> None:
    """Setting and removing a password is audited as a change, never with the value."""
    user(store, clock, "alice", Role.AUDITOR)
    set_password(store.auth, "alice", PASSWORD, actor="op", clock=clock, hashing=FAST_HASHING)
    assert authenticate_password(store.auth, "alice", PASSWORD, clock=clock, hashing=FAST_HASHING)
    set_password(store.auth, "alice", None, actor="op", clock=clock)
    with pytest.raises(AuthenticationError):
        authenticate_password(store.auth, "alice", PASSWORD, clock=clock, hashing=FAST_HASHING)
    changes = [(e.before, e.after) for e in store.audit.events() if e.action == "auth.password_set"]
    assert changes == [
        ({"password": False}, {"password": True}),
        ({"password": True}, {"password": False}),
    ]
    with pytest.raises(NotFoundError):
        set_password(store.auth, "nobody", PASSWORD, actor="op", clock=clock, hashing=FAST_HASHING)


def test_a_second_connection_sees_changes_at_once(store_url: str, clock: FixedClock) -> None:
    """Nothing is cached: another store handle sees a revocation immediately."""
    with open_store(store_url) as first, open_store(store_url) as second:
        user(first, clock, "alice", Role.ADMIN)
        issued = token(first, clock, "alice", Role.ADMIN)
        assert authenticate(second.auth, issued.plaintext, clock=clock).name == "alice"
        revoke_token(first.auth, issued.token.token_id, actor="op", clock=clock)
        with pytest.raises(AuthenticationError, match="revoked"):
            authenticate(second.auth, issued.plaintext, clock=clock)


def test_tampered_roles_fail_closed(store: SqlStore, clock: FixedClock) -> None:
    """A role the code does not know (edited in the database) is a store error, not access."""
    from sqlalchemy import update

    from medwarden.errors import StoreError

    user(store, clock, "alice", Role.AUDITOR)
    with store.database.write("tamper") as conn:
        conn.execute(update(app_user).values(roles_json='["superuser"]'))
    with pytest.raises(StoreError, match="stored roles of alice"):
        store.auth.user("alice")
