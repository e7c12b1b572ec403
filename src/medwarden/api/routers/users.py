"""``/api/v1/users`` (admins: list, create, show, disable/enable) and ``/api/v1/me``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from medwarden.api.deps import Authenticated, ClockDep, StoreDep, require
from medwarden.api.pagination import Pagination, paginate
from medwarden.api.schemas.common import Page
from medwarden.api.schemas.users import Me, UserChange, UserCreate, UserOut
from medwarden.auth.model import Permission, Principal
from medwarden.errors import NotFoundError
from medwarden.services.auth import create_user, set_disabled

__all__ = ["router"]

router = APIRouter(tags=["users"])

ManagesUsers = Annotated[Principal, Depends(require(Permission.MANAGE_USERS))]
UserName = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("/me", response_model=Me, summary="The authenticated caller")
def me(principal: Authenticated) -> Me:
    """Who the token belongs to, with its roles, permissions, product scope and expiry."""
    return Me.of(principal)


@router.get("/users", response_model=Page[UserOut], summary="List users (admin)")
def list_users(page: Pagination, store: StoreDep, _: ManagesUsers) -> Page[UserOut]:
    """Users in name order, one page at a time."""
    after = page.after(str)
    rows = store.auth.users(after=None if after is None else str(after[0]), limit=page.limit + 1)
    return paginate(rows, page, key=lambda u: (u.name,), convert=UserOut.of)


@router.post(
    "/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a user (admin)",
)
def add_user(
    body: UserCreate, principal: ManagesUsers, store: StoreDep, clock: ClockDep
) -> UserOut:
    """Create a user; the password (optional) is hashed with Argon2id and never returned."""
    user = create_user(
        store.auth,
        body.name,
        roles=body.roles,
        products=body.products,
        password=None if body.password is None else body.password.get_secret_value(),
        actor=principal.actor,
        clock=clock,
        issuer=principal,
    )
    return UserOut.of(user)


@router.get("/users/{name}", response_model=UserOut, summary="Show a user (admin)")
def get_user(name: UserName, store: StoreDep, _: ManagesUsers) -> UserOut:
    """One user."""
    user = store.auth.user(name)
    if user is None:
        raise NotFoundError(f"there is no user {name!r}")
    return UserOut.of(user)


@router.patch("/users/{name}", response_model=UserOut, summary="Disable or enable a user (admin)")
def change_user(
    name: UserName, body: UserChange, principal: ManagesUsers, store: StoreDep, clock: ClockDep
) -> UserOut:
    """Disable (or enable) a user: a disabled user's tokens stop working at once."""
    user = set_disabled(
        store.auth, name, body.disabled, actor=principal.actor, clock=clock, issuer=principal
    )
    return UserOut.of(user)
