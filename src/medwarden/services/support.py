"""End-of-support surveillance of fielded components (REQUIREMENTS 3 and 4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from medwarden.portfolio.installed import SupportRecord
from medwarden.portfolio.support import end_of_support_findings

__all__ = ["EndOfSupportItem", "SupportSource", "end_of_support_report"]


class SupportSource(Protocol):
    """Where the support records of the current SBOMs come from."""

    def support_records(self, products: frozenset[str] | None = None) -> list[SupportRecord]:
        """Every component with support data in a current SBOM."""
        ...


@dataclass(frozen=True, slots=True)
class EndOfSupportItem:
    """One component of one release that needs attention, and why."""

    product: str
    release: str
    ref: str
    component: str
    reason: str
    end_of_support: date | None
    level: str | None


def end_of_support_report(
    source: SupportSource, *, today: date, products: frozenset[str] | None = None
) -> list[EndOfSupportItem]:
    """Every component past, near (the product's horizon) or before the device's planned
    end of support, or marked no longer maintained or abandoned."""
    out: list[EndOfSupportItem] = []
    for record in source.support_records(products):
        for item in end_of_support_findings(
            [(record.ref, record.support)],
            today=today,
            horizon_days=record.horizon_days,
            device_support_end=record.device_support_end,
        ):
            name = f"{record.name}@{record.version}" if record.version else record.name
            out.append(
                EndOfSupportItem(
                    record.product,
                    record.release,
                    record.ref,
                    name,
                    item.reason,
                    item.end_of_support,
                    item.level,
                )
            )
    return out
