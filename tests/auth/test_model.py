"""Roles, permissions, scopes and the Principal's checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.auth.model import (
    ROLE_PERMISSIONS,
    Permission,
    Principal,
    Role,
    check_token_name,
    check_user_name,
    intersect_scopes,
    parse_roles,
    permissions_of,
    scope_within,
)
from medwarden.errors import PermissionDeniedError, UsageError

scopes = st.none() | st.frozensets(st.sampled_from(["a", "b", "c", "d"]))


def test_role_table() -> None:
    """The role table as documented: admin everything, regulatory reads, auditor reads + audit."""
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    assert ROLE_PERMISSIONS[Role.REGULATORY] == {Permission.READ}
    assert ROLE_PERMISSIONS[Role.AUDITOR] == {Permission.READ, Permission.READ_AUDIT}
    analyst = ROLE_PERMISSIONS[Role.SECURITY_ANALYST]
    assert {Permission.TRIAGE, Permission.MANAGE_PORTFOLIO, Permission.ISSUE_TOKENS} <= analyst
    assert Permission.MANAGE_USERS not in analyst
    assert Permission.READ_AUDIT not in analyst
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert all(Permission.READ in granted for granted in ROLE_PERMISSIONS.values())


def test_permissions_of_combines_roles() -> None:
    """Several roles grant the union of their permissions."""
    assert permissions_of([]) == frozenset()
    both = permissions_of([Role.REGULATORY, Role.AUDITOR])
    assert both == {Permission.READ, Permission.READ_AUDIT}


def test_parse_roles() -> None:
    """Role names are case-insensitive; an unknown one is a usage error naming the known."""
    assert parse_roles([" Admin", "auditor"]) == {Role.ADMIN, Role.AUDITOR}
    with pytest.raises(UsageError, match="unknown role 'root'") as caught:
        parse_roles(["root"])
    assert "security_analyst" in (caught.value.hint or "")


def test_principal_checks() -> None:
    """require and check_product raise PermissionDeniedError (HTTP 403)."""
    reader = Principal(name="rita", roles=frozenset({Role.REGULATORY}), products=frozenset({"a"}))
    reader.require(Permission.READ)
    with pytest.raises(PermissionDeniedError, match="rita lacks the permission 'triage'") as denied:
        reader.require(Permission.TRIAGE)
    assert "security_analyst" in (denied.value.hint or "")
    reader.check_product("a")
    with pytest.raises(PermissionDeniedError, match="may not access product 'b'"):
        reader.check_product("b")
    assert not reader.is_token
    assert reader.actor == "rita"
    token = Principal(name="rita", roles=frozenset(), token_id="00ff00ff00ff00ff")
    assert token.is_token
    assert token.actor == "rita (token 00ff00ff00ff00ff)"
    assert token.can_access_product("anything")


@given(scopes, scopes)
def test_scope_algebra(first: frozenset[str] | None, second: frozenset[str] | None) -> None:
    """The intersection lies within both scopes; None (every product) is the identity."""
    both = intersect_scopes(first, second)
    assert scope_within(both, first)
    assert scope_within(both, second)
    assert intersect_scopes(first, None) == first
    assert scope_within(first, None)
    assert scope_within(None, second) == (second is None)


@pytest.mark.parametrize("name", ["alice", "a", "bob.smith@example.org", "svc-ci_2", "x+y"])
def test_valid_user_names(name: str) -> None:
    """Letters, digits, . _ @ + -, starting with a letter or digit."""
    assert check_user_name(name) == name


@pytest.mark.parametrize("name", ["", " alice", "alice bob", "-x", "é", "a" * 129, "a\nb", "a/b"])
def test_invalid_user_names(name: str) -> None:
    """Anything else is a usage error."""
    with pytest.raises(UsageError, match="not a valid user name"):
        check_user_name(name)


def test_token_names() -> None:
    """Token names are stripped; blank, overlong or control characters are refused."""
    assert check_token_name("  ci pipeline ") == "ci pipeline"
    for bad in ("", "   ", "x" * 101, "tab\there", "bidi\u202e"):
        with pytest.raises(UsageError, match="not a valid token name"):
            check_token_name(bad)
