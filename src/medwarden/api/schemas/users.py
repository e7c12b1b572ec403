"""Users: the public view of a user, creation and change requests, the caller itself."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from medwarden.auth.model import USER_NAME_PATTERN, Permission, Principal, Role, User

__all__ = ["Me", "Slug", "UserChange", "UserCreate", "UserOut"]

Slug = Annotated[str, Field(min_length=1, max_length=200)]
"""A product slug in a request."""


def _listed(scope: frozenset[str] | None) -> list[str] | None:
    return None if scope is None else sorted(scope)


class UserOut(BaseModel):
    """A user as the API shows it (never the password or its hash)."""

    name: str
    roles: list[Role]
    products: list[str] | None = Field(description="Product slugs; null means every product.")
    disabled: bool
    has_password: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        """The DTO of a domain user."""
        return cls(
            name=user.name,
            roles=sorted(user.roles),
            products=_listed(user.products),
            disabled=user.disabled,
            has_password=user.has_password,
            created_at=user.created_at,
        )


class UserCreate(BaseModel):
    """A user to create; without a password the user acts through API tokens only."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=f"^{USER_NAME_PATTERN.pattern}$", examples=["alice"])
    roles: list[Role] = Field(min_length=1)
    products: list[Slug] | None = Field(
        default=None,
        min_length=1,
        description="Product slugs the user may act on; leave out for every product.",
    )
    password: SecretStr | None = Field(
        default=None,
        max_length=1024,
        json_schema_extra={"writeOnly": True},
        description="Hashed with Argon2id; never stored, returned or recorded.",
    )


class UserChange(BaseModel):
    """A change to a user: currently disabling or enabling it."""

    model_config = ConfigDict(extra="forbid")

    disabled: bool


class Me(BaseModel):
    """The authenticated caller: who, with which roles, permissions and product scope."""

    name: str
    roles: list[Role]
    permissions: list[Permission]
    products: list[str] | None
    token_id: str | None
    expires_at: datetime | None

    @classmethod
    def of(cls, principal: Principal) -> Me:
        """The DTO of the caller."""
        return cls(
            name=principal.name,
            roles=sorted(principal.roles),
            permissions=sorted(principal.permissions),
            products=_listed(principal.products),
            token_id=principal.token_id,
            expires_at=principal.expires_at,
        )
