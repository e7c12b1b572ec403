"""``/api/v1/tokens``: create tokens for oneself, list and revoke them (admins: anyone's)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from medwarden.api.deps import Authenticated, ClockDep, SettingsDep, StoreDep, require
from medwarden.api.pagination import Pagination, paginate
from medwarden.api.schemas.common import Page
from medwarden.api.schemas.tokens import TokenCreate, TokenCreated, TokenOut
from medwarden.auth.model import ApiToken, Permission, Principal
from medwarden.errors import UsageError
from medwarden.services.auth import create_token, revoke_token, visible_token, visible_tokens

__all__ = ["router"]

router = APIRouter(tags=["tokens"])

IssuesTokens = Annotated[Principal, Depends(require(Permission.ISSUE_TOKENS))]
TokenId = Annotated[str, Path(min_length=1, max_length=64)]


def _after(page_position: tuple[str | int, ...] | None) -> tuple[datetime, str] | None:
    if page_position is None:
        return None
    created, token_id = page_position
    try:
        return datetime.fromisoformat(str(created)), str(token_id)
    except ValueError:
        raise UsageError("the cursor does not belong to this list") from None


def _key(token: ApiToken) -> tuple[str, str]:
    return token.created_at.isoformat(), token.token_id


@router.get("/tokens", response_model=Page[TokenOut], summary="List API tokens")
def list_tokens(
    page: Pagination,
    principal: Authenticated,
    store: StoreDep,
    clock: ClockDep,
    owner: Annotated[
        str | None, Query(max_length=128, description="Another user's tokens (admin).")
    ] = None,
    everyone: Annotated[
        bool, Query(alias="all", description="Every user's tokens (admin).")
    ] = False,
) -> Page[TokenOut]:
    """The caller's tokens (or, for admins, another user's or everyone's), oldest first."""
    rows = visible_tokens(
        store.auth,
        principal,
        owner=owner,
        everyone=everyone,
        after=_after(page.after(str, str)),
        limit=page.limit + 1,
    )
    now = clock.now()
    return paginate(rows, page, key=_key, convert=lambda t: TokenOut.of(t, now))


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API token for the caller",
)
def add_token(
    body: TokenCreate,
    principal: IssuesTokens,
    store: StoreDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> TokenCreated:
    """Create a token with roles (and products) within the caller's; its plaintext is in
    ``token``, returned this once only.  A token cannot outlive the token creating it."""
    issued = create_token(
        store.auth,
        owner=principal.name,
        name=body.name,
        roles=body.roles,
        products=body.products,
        lifetime=timedelta(days=body.expires_in_days),
        max_lifetime=timedelta(days=settings.token_max_days),
        actor=principal.actor,
        clock=clock,
        issuer=principal,
    )
    shown = TokenOut.of(issued.token, clock.now())
    return TokenCreated(**shown.model_dump(), token=issued.plaintext)


@router.get("/tokens/{token_id}", response_model=TokenOut, summary="Show an API token")
def get_token(
    token_id: TokenId, principal: Authenticated, store: StoreDep, clock: ClockDep
) -> TokenOut:
    """One of the caller's tokens (admins: anyone's)."""
    return TokenOut.of(visible_token(store.auth, principal, token_id), clock.now())


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="Revoke an API token")
def delete_token(
    token_id: TokenId, principal: IssuesTokens, store: StoreDep, clock: ClockDep
) -> TokenOut:
    """Revoke one of the caller's tokens (admins: anyone's); it stops working at once."""
    token = revoke_token(store.auth, token_id, actor=principal.actor, clock=clock, issuer=principal)
    return TokenOut.of(token, clock.now())
