"""Component support records as the API takes and shows them (REQUIREMENTS 3)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from medwarden.portfolio.support import StoredSupport

__all__ = ["ComponentSupportIn", "ComponentSupportOut"]

# Text XML can carry (SBOMs are exported as XML too): no control characters but tab and newlines.
_PRINTABLE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


class ComponentSupportIn(BaseModel):
    """The support record of one component of a release's current SBOM.

    A level needs an end-of-support date or a justification (422 otherwise); leaving
    all three out (or null) clears the component's record."""

    model_config = ConfigDict(extra="forbid")

    ref: str = Field(min_length=1, max_length=500, description="The component's bom-ref/SPDXID.")
    level: str | None = Field(
        default=None,
        max_length=200,
        pattern=_PRINTABLE,
        description="actively_maintained, no_longer_maintained, abandoned, or free text.",
    )
    end_of_support: date | None = Field(default=None, description="ISO 8601 date.")
    justification: str | None = Field(
        default=None,
        max_length=2000,
        pattern=_PRINTABLE,
        description="Why no end-of-support date can be given.",
    )
    reason: str | None = Field(
        default=None, max_length=2000, description="Recorded in the audit trail."
    )


class ComponentSupportOut(BaseModel):
    """A component's stored support record (all null: the component states none)."""

    product: str
    release: str
    revision: int
    ref: str
    level: str | None
    end_of_support: date | None
    justification: str | None
    changed: bool

    @classmethod
    def of(cls, stored: StoredSupport) -> ComponentSupportOut:
        """The DTO of a stored record."""
        support = stored.support
        return cls(
            product=stored.product,
            release=stored.release,
            revision=stored.revision,
            ref=stored.ref,
            level=support.level if support else None,
            end_of_support=support.end_of_support if support else None,
            justification=support.justification if support else None,
            changed=stored.changed,
        )
