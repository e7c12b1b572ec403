"""VEX statements, normalised from CycloneDX VEX and OpenVEX documents.

Vocabularies follow the CISA "Minimum Requirements for VEX" status and justification
lists, which OpenVEX adopts verbatim; CycloneDX ``analysis.state`` and
``analysis.justification`` values are mapped onto them by the readers
(:data:`CDX_STATE_TO_STATUS`, :data:`CDX_JUSTIFICATION_TO_JUSTIFICATION`), and the
original spec values are kept on the statement for provenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from medwarden.errors import VexError

__all__ = [
    "CDX_JUSTIFICATION_TO_JUSTIFICATION",
    "CDX_STATE_TO_STATUS",
    "JUSTIFICATION_TO_CDX",
    "STATUS_TO_CDX_STATE",
    "ProductRef",
    "VexJustification",
    "VexStatement",
    "VexStatus",
]


class VexStatus(StrEnum):
    """A statement's status (https://github.com/openvex/spec/blob/main/OPENVEX-SPEC.md#status-labels)."""

    NOT_AFFECTED = "not_affected"
    AFFECTED = "affected"
    FIXED = "fixed"
    UNDER_INVESTIGATION = "under_investigation"

    @property
    def suppresses(self) -> bool:
        """Whether a finding covered by a statement of this status is suppressed."""
        return self in (VexStatus.NOT_AFFECTED, VexStatus.FIXED)


class VexJustification(StrEnum):
    """Why a product is not affected (https://github.com/openvex/spec/blob/main/OPENVEX-SPEC.md#status-justifications)."""

    COMPONENT_NOT_PRESENT = "component_not_present"
    VULNERABLE_CODE_NOT_PRESENT = "vulnerable_code_not_present"
    VULNERABLE_CODE_NOT_IN_EXECUTE_PATH = "vulnerable_code_not_in_execute_path"
    VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY = (
        "vulnerable_code_cannot_be_controlled_by_adversary"
    )
    INLINE_MITIGATIONS_ALREADY_EXIST = "inline_mitigations_already_exist"


CDX_STATE_TO_STATUS: dict[str, VexStatus] = {
    "not_affected": VexStatus.NOT_AFFECTED,
    "false_positive": VexStatus.NOT_AFFECTED,
    "resolved": VexStatus.FIXED,
    "resolved_with_pedigree": VexStatus.FIXED,
    "exploitable": VexStatus.AFFECTED,
    "in_triage": VexStatus.UNDER_INVESTIGATION,
}
"""CycloneDX ``analysis.state`` (https://cyclonedx.org/docs/1.6/json/#vulnerabilities_items_analysis_state)."""

STATUS_TO_CDX_STATE: dict[VexStatus, str] = {
    VexStatus.NOT_AFFECTED: "not_affected",
    VexStatus.AFFECTED: "exploitable",
    VexStatus.FIXED: "resolved",
    VexStatus.UNDER_INVESTIGATION: "in_triage",
}
"""The reverse of :data:`CDX_STATE_TO_STATUS`, for writing CycloneDX ``analysis.state``
(``false_positive`` and ``resolved_with_pedigree`` are read, never written)."""

CDX_JUSTIFICATION_TO_JUSTIFICATION: dict[str, VexJustification] = {
    "code_not_present": VexJustification.VULNERABLE_CODE_NOT_PRESENT,
    "code_not_reachable": VexJustification.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH,
    "requires_configuration": VexJustification.VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY,
    "requires_dependency": VexJustification.COMPONENT_NOT_PRESENT,
    "requires_environment": VexJustification.VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY,
    "protected_by_compiler": VexJustification.INLINE_MITIGATIONS_ALREADY_EXIST,
    "protected_at_runtime": VexJustification.INLINE_MITIGATIONS_ALREADY_EXIST,
    "protected_at_perimeter": VexJustification.INLINE_MITIGATIONS_ALREADY_EXIST,
    "protected_by_mitigating_control": VexJustification.INLINE_MITIGATIONS_ALREADY_EXIST,
}
"""CycloneDX ``analysis.justification`` mapped as in the CISA VEX / CycloneDX guidance."""

JUSTIFICATION_TO_CDX: dict[VexJustification, str] = {
    VexJustification.COMPONENT_NOT_PRESENT: "requires_dependency",
    VexJustification.VULNERABLE_CODE_NOT_PRESENT: "code_not_present",
    VexJustification.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH: "code_not_reachable",
    VexJustification.VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY: "requires_environment",
    VexJustification.INLINE_MITIGATIONS_ALREADY_EXIST: "protected_by_mitigating_control",
}
"""The reverse mapping, for writing CycloneDX ``analysis`` of suppressed findings."""


@dataclass(frozen=True, slots=True)
class ProductRef:
    """A product a statement speaks of, and optionally the subcomponents within it.

    ``identifiers`` are the ways the product is named: package URLs, CPEs, CycloneDX
    bom-refs or BOM-Links (``urn:cdx:serial/version#bom-ref``).  ``versions`` lists
    exact versions the statement is limited to (CycloneDX ``affects[].versions``);
    ``ranges`` holds ``vers:`` ranges, which are recorded but never widen a match.
    """

    identifiers: tuple[str, ...]
    subcomponents: tuple[tuple[str, ...], ...] = ()
    versions: tuple[str, ...] = ()
    ranges: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.identifiers or not all(self.identifiers):
            raise VexError("a VEX product needs at least one non-empty identifier")


@dataclass(frozen=True, slots=True)
class VexStatement:
    """One VEX statement: a vulnerability, the products it speaks of, and their status.

    ``document`` names the source document (usually its path); ``source_status`` and
    ``source_justification`` keep the spec values as written in that document.
    """

    vulnerability: str
    products: tuple[ProductRef, ...]
    status: VexStatus
    document: str
    aliases: tuple[str, ...] = ()
    justification: VexJustification | None = None
    impact_statement: str | None = None
    detail: str | None = None
    timestamp: datetime | None = None
    source_status: str | None = None
    source_justification: str | None = None

    def __post_init__(self) -> None:
        if not self.vulnerability.strip():
            raise VexError("a VEX statement needs a vulnerability id")
        if not self.products:
            raise VexError(f"VEX statement for {self.vulnerability} names no product")

    @property
    def vulnerability_ids(self) -> frozenset[str]:
        """The statement's vulnerability id and aliases, upper-cased for comparison."""
        return frozenset(i.upper() for i in (self.vulnerability, *self.aliases) if i)
