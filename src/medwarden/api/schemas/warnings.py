"""Early warnings of the telemetry checks: what a warning looks like, and an acknowledgement."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from medwarden.services.telemetry_checks import MAX_NOTE, StoredWarning, WarningState
from medwarden.telemetry.checks import Severity

__all__ = ["AcknowledgeIn", "WarningOut"]


class WarningOut(BaseModel):
    """One early warning; ``device_id`` is null for a fleet warning (see docs/warnings.md)."""

    id: int
    device_id: str | None
    check_id: str
    code: str
    severity: Severity
    evidence: dict[str, Any] = Field(
        description="Device warnings: {records: [{boot_id, seq, record_hash}]} in chain "
        "order; fleet warnings: the counts behind the rate."
    )
    detail: str
    at: datetime = Field(description="When the condition was established (server clock).")
    software_version: str
    patient_ref: str | None = Field(description="The device's pseudonymous patient reference.")
    state: WarningState
    created_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    note: str | None

    @classmethod
    def of(cls, warning: StoredWarning) -> WarningOut:
        """The DTO of a stored warning."""
        return cls(
            id=warning.id,
            device_id=warning.device_id,
            check_id=warning.check_id,
            code=warning.code,
            severity=warning.severity,
            evidence=warning.evidence,
            detail=warning.detail,
            at=warning.at,
            software_version=warning.software_version,
            patient_ref=warning.patient_ref,
            state=warning.state,
            created_at=warning.created_at,
            acknowledged_by=warning.acknowledged_by,
            acknowledged_at=warning.acknowledged_at,
            note=warning.note,
        )


class AcknowledgeIn(BaseModel):
    """What was done about a warning (kept with it and in the audit trail)."""

    note: str = Field(min_length=1, max_length=MAX_NOTE)
