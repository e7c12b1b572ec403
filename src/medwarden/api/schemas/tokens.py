"""API tokens: the public view, the creation request, and the one response holding a secret."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from medwarden.api.schemas.users import Slug
from medwarden.auth.model import ApiToken, Role, TokenState

__all__ = ["TokenCreate", "TokenCreated", "TokenOut"]


class TokenOut(BaseModel):
    """A token as the API shows it: never its secret or the secret's digest."""

    token_id: str
    owner: str
    name: str
    roles: list[Role]
    products: list[str] | None = Field(description="Product slugs; null means the owner's scope.")
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    state: TokenState

    @classmethod
    def of(cls, token: ApiToken, now: datetime) -> TokenOut:
        """The DTO of a stored token, with its state at ``now``."""
        return cls(
            token_id=token.token_id,
            owner=token.owner,
            name=token.name,
            roles=sorted(token.roles),
            products=None if token.products is None else sorted(token.products),
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
            state=token.state(now),
        )


class TokenCreate(BaseModel):
    """A token to create for the caller: roles within the caller's, an expiry within the limit."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["ci-pipeline"])
    roles: list[Role] = Field(min_length=1)
    products: list[Slug] | None = Field(
        default=None, min_length=1, description="Product slugs; leave out for the caller's scope."
    )
    expires_in_days: int = Field(
        ge=1, le=36_500, description="Days until expiry; at most MEDWARDEN_TOKEN_MAX_DAYS."
    )


class TokenCreated(TokenOut):
    """A token just created, with its plaintext: store it now, it is never shown again."""

    token: str = Field(description="The token, mwt_<token_id>_<secret>; shown once.")
