"""The status crosswalk (REQUIREMENTS 38): internal decisions <-> CycloneDX, OpenVEX, CSAF.

Internally a decision speaks the CISA VEX vocabulary (which OpenVEX adopts verbatim):
four statuses and five justifications (:mod:`medwarden.vex.model`), CycloneDX
responses (:class:`~medwarden.vex.triage.Response`), a ``detail`` text (the action
statement of an ``affected`` decision) and an impact statement.

=====================  ==================  ===================  =========================
internal status        CycloneDX state     OpenVEX status       CSAF ``product_status``
=====================  ==================  ===================  =========================
not_affected           not_affected        not_affected         known_not_affected
affected               exploitable         affected             known_affected
fixed                  resolved            fixed                fixed
under_investigation    in_triage           under_investigation  under_investigation
=====================  ==================  ===================  =========================

Read only: CycloneDX ``false_positive`` (-> not_affected) and ``resolved_with_pedigree``
(-> fixed); CSAF ``first_affected``/``last_affected`` (-> affected) and ``first_fixed``
(-> fixed).  Justifications map to CycloneDX through
:data:`~medwarden.vex.model.JUSTIFICATION_TO_CDX` and back through
:data:`~medwarden.vex.model.CDX_JUSTIFICATION_TO_JUSTIFICATION`; OpenVEX
justifications and CSAF flag labels are the internal codes themselves.

Where each text goes:

* **CycloneDX**: ``analysis.detail`` holds the impact statement of a ``not_affected``
  decision and the detail of any other; the other text, if any, travels as a
  ``medwarden:detail`` or ``medwarden:impact_statement`` property.  Responses are
  ``analysis.response`` values verbatim.
* **OpenVEX**: ``impact_statement``; the detail is the ``action_statement`` of an
  ``affected`` statement (written from the responses when there is no detail) and the
  ``status_notes`` of the others.  OpenVEX has no responses: they are lost.
* **CSAF**: ``flags[].label`` is the justification, ``threats[category=impact]`` the
  impact statement, a ``notes[category=details]`` note the detail, and each response one
  ``remediations[]`` entry (:data:`RESPONSE_TO_CSAF_REMEDIATION`; ``rollback`` becomes
  ``vendor_fix`` and reads back as ``update``).

Reading keeps the document's own status and justification code
(:attr:`ImportedDecision.source_status`, :attr:`ImportedDecision.source_justification`),
and :func:`to_cyclonedx` writes that original code back when it still means the same.
The triage-record fields (applicability, verifiability, related threats), the
assessment, approver and expiry are internal and are not exchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from medwarden.errors import VexError
from medwarden.vex.model import (
    CDX_JUSTIFICATION_TO_JUSTIFICATION,
    CDX_STATE_TO_STATUS,
    JUSTIFICATION_TO_CDX,
    STATUS_TO_CDX_STATE,
    VexJustification,
    VexStatus,
)
from medwarden.vex.triage import Response, TriageDecision

__all__ = [
    "CSAF_REMEDIATION_TO_RESPONSE",
    "CSAF_STATUS_TO_STATUS",
    "DETAIL_PROPERTY",
    "IMPACT_PROPERTY",
    "RESPONSE_TO_CSAF_REMEDIATION",
    "STATUS_TO_CSAF_STATUS",
    "CsafFields",
    "CsafRemediation",
    "CycloneDxAnalysis",
    "ImportedDecision",
    "OpenVexFields",
    "VexFormat",
    "from_csaf",
    "from_cyclonedx",
    "from_openvex",
    "to_csaf",
    "to_cyclonedx",
    "to_openvex",
]

DETAIL_PROPERTY = "medwarden:detail"
"""CycloneDX property carrying the detail of a ``not_affected`` decision."""

IMPACT_PROPERTY = "medwarden:impact_statement"
"""CycloneDX property carrying the impact statement of a decision other than ``not_affected``."""

STATUS_TO_CSAF_STATUS: dict[VexStatus, str] = {
    VexStatus.NOT_AFFECTED: "known_not_affected",
    VexStatus.AFFECTED: "known_affected",
    VexStatus.FIXED: "fixed",
    VexStatus.UNDER_INVESTIGATION: "under_investigation",
}
"""Internal status -> CSAF ``product_status`` category (CSAF 2.0 §3.2.3.9)."""

CSAF_STATUS_TO_STATUS: dict[str, VexStatus] = {
    **{csaf: status for status, csaf in STATUS_TO_CSAF_STATUS.items()},
    "first_affected": VexStatus.AFFECTED,
    "last_affected": VexStatus.AFFECTED,
    "first_fixed": VexStatus.FIXED,
}
"""CSAF ``product_status`` category -> internal status (``recommended`` is not a status)."""

RESPONSE_TO_CSAF_REMEDIATION: dict[Response, str] = {
    Response.CAN_NOT_FIX: "none_available",
    Response.WILL_NOT_FIX: "no_fix_planned",
    Response.UPDATE: "vendor_fix",
    Response.ROLLBACK: "vendor_fix",
    Response.WORKAROUND_AVAILABLE: "workaround",
}
"""CycloneDX response -> CSAF ``remediations[].category`` (CSAF 2.0 §3.2.3.12.1)."""

CSAF_REMEDIATION_TO_RESPONSE: dict[str, Response] = {
    "none_available": Response.CAN_NOT_FIX,
    "no_fix_planned": Response.WILL_NOT_FIX,
    "vendor_fix": Response.UPDATE,
    "workaround": Response.WORKAROUND_AVAILABLE,
    "mitigation": Response.WORKAROUND_AVAILABLE,
}
"""CSAF remediation category -> response (``vendor_fix`` reads as ``update``)."""

_RESPONSE_TEXT: dict[Response, str] = {
    Response.CAN_NOT_FIX: "The vulnerability cannot be fixed in this product.",
    Response.WILL_NOT_FIX: "No fix is planned for this product.",
    Response.UPDATE: "Update to a version in which the vulnerability is fixed.",
    Response.ROLLBACK: "Roll back to a version that is not affected.",
    Response.WORKAROUND_AVAILABLE: "A workaround is available.",
}


class VexFormat(StrEnum):
    """The exchange formats of the crosswalk."""

    CYCLONEDX = "cyclonedx"
    OPENVEX = "openvex"
    CSAF = "csaf"


@dataclass(frozen=True, slots=True)
class CycloneDxAnalysis:
    """A CycloneDX ``vulnerabilities[].analysis`` plus the vulnerability's medwarden properties."""

    state: str
    justification: str | None = None
    response: tuple[str, ...] = ()
    detail: str | None = None
    properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class OpenVexFields:
    """The status fields of an OpenVEX statement."""

    status: str
    justification: str | None = None
    impact_statement: str | None = None
    action_statement: str | None = None
    status_notes: str | None = None


@dataclass(frozen=True, slots=True)
class CsafRemediation:
    """One CSAF ``remediations[]`` entry (its ``product_ids`` are the writer's business)."""

    category: str
    details: str


@dataclass(frozen=True, slots=True)
class CsafFields:
    """What a CSAF VEX vulnerability says of one product.

    ``product_status`` is the category the product is listed under; ``flag_label`` a
    ``flags[].label``; ``impact`` the ``threats[]`` entry of category ``impact``;
    ``details`` a ``notes[]`` entry of category ``details``."""

    product_status: str
    flag_label: str | None = None
    impact: str | None = None
    remediations: tuple[CsafRemediation, ...] = ()
    details: str | None = None


@dataclass(frozen=True, slots=True)
class ImportedDecision:
    """A decision read from an exchange format, with the format's own codes kept."""

    decision: TriageDecision
    source_format: VexFormat
    source_status: str
    source_justification: str | None = None


# -- CycloneDX ---------------------------------------------------------------------------


def to_cyclonedx(
    decision: TriageDecision, *, source_justification: str | None = None
) -> CycloneDxAnalysis:
    """Write ``decision`` as a CycloneDX analysis.

    ``source_justification`` is the CycloneDX code the decision was read with; it is
    written back when it still maps to the decision's justification (so
    ``protected_at_runtime`` survives a round trip through the internal vocabulary)."""
    justification = None
    if decision.justification is not None:
        justification = JUSTIFICATION_TO_CDX[decision.justification]
        if (
            source_justification is not None
            and CDX_JUSTIFICATION_TO_JUSTIFICATION.get(source_justification)
            is decision.justification
        ):
            justification = source_justification
    properties: list[tuple[str, str]] = []
    if decision.status is VexStatus.NOT_AFFECTED:
        detail = decision.impact_statement
        if decision.detail is not None:
            properties.append((DETAIL_PROPERTY, decision.detail))
    else:
        detail = decision.detail
        if decision.impact_statement is not None:
            properties.append((IMPACT_PROPERTY, decision.impact_statement))
    return CycloneDxAnalysis(
        state=STATUS_TO_CDX_STATE[decision.status],
        justification=justification,
        response=tuple(r.value for r in decision.responses),
        detail=detail,
        properties=tuple(properties),
    )


def from_cyclonedx(analysis: CycloneDxAnalysis) -> ImportedDecision:
    """Read a CycloneDX analysis; unknown states, justifications or responses are refused."""
    status = CDX_STATE_TO_STATUS.get(analysis.state)
    if status is None:
        raise VexError(f"unknown CycloneDX analysis state {analysis.state!r}")
    justification = _lookup(
        CDX_JUSTIFICATION_TO_JUSTIFICATION, analysis.justification, "CycloneDX justification"
    )
    responses = tuple(_response(r) for r in analysis.response)
    props = dict(analysis.properties)
    if status is VexStatus.NOT_AFFECTED:
        impact, detail = analysis.detail, props.get(DETAIL_PROPERTY)
    else:
        impact, detail = props.get(IMPACT_PROPERTY), analysis.detail
    decision = TriageDecision(
        status=status,
        justification=justification,
        responses=responses,
        detail=detail,
        impact_statement=impact,
    )
    return ImportedDecision(decision, VexFormat.CYCLONEDX, analysis.state, analysis.justification)


def _response(value: str) -> Response:
    try:
        return Response(value)
    except ValueError:
        raise VexError(f"unknown CycloneDX analysis response {value!r}") from None


def _lookup(
    table: Mapping[str, VexJustification], code: str | None, what: str
) -> VexJustification | None:
    if code is None:
        return None
    found = table.get(code)
    if found is None:
        raise VexError(f"unknown {what} {code!r}")
    return found


# -- OpenVEX ----------------------------------------------------------------------------


def _action_text(decision: TriageDecision) -> str | None:
    if decision.detail is not None:
        return decision.detail
    if decision.responses:
        return " ".join(_RESPONSE_TEXT[r] for r in decision.responses)
    return None


def to_openvex(decision: TriageDecision) -> OpenVexFields:
    """Write ``decision`` as OpenVEX statement fields (responses become the action statement
    only when there is no detail)."""
    affected = decision.status is VexStatus.AFFECTED
    return OpenVexFields(
        status=decision.status.value,
        justification=None if decision.justification is None else decision.justification.value,
        impact_statement=decision.impact_statement,
        action_statement=_action_text(decision) if affected else None,
        status_notes=None if affected else decision.detail,
    )


_OPENVEX_JUSTIFICATIONS = {j.value: j for j in VexJustification}


def from_openvex(fields: OpenVexFields) -> ImportedDecision:
    """Read OpenVEX statement fields; unknown statuses or justifications are refused."""
    try:
        status = VexStatus(fields.status)
    except ValueError:
        raise VexError(f"unknown OpenVEX status {fields.status!r}") from None
    justification = _lookup(_OPENVEX_JUSTIFICATIONS, fields.justification, "OpenVEX justification")
    detail = fields.action_statement if status is VexStatus.AFFECTED else fields.status_notes
    decision = TriageDecision(
        status=status,
        justification=justification,
        detail=detail,
        impact_statement=fields.impact_statement,
    )
    return ImportedDecision(decision, VexFormat.OPENVEX, fields.status, fields.justification)


# -- CSAF -------------------------------------------------------------------------------


def to_csaf(decision: TriageDecision) -> CsafFields:
    """Write ``decision`` as what a CSAF VEX vulnerability says of one product."""
    remediations = tuple(
        CsafRemediation(RESPONSE_TO_CSAF_REMEDIATION[r], decision.detail or _RESPONSE_TEXT[r])
        for r in decision.responses
    )
    return CsafFields(
        product_status=STATUS_TO_CSAF_STATUS[decision.status],
        flag_label=None if decision.justification is None else decision.justification.value,
        impact=decision.impact_statement,
        remediations=remediations,
        details=decision.detail,
    )


def from_csaf(fields: CsafFields) -> ImportedDecision:
    """Read CSAF product status, flag, impact, remediations and details note."""
    status = CSAF_STATUS_TO_STATUS.get(fields.product_status)
    if status is None:
        raise VexError(f"CSAF product status {fields.product_status!r} is not a VEX status")
    justification = _lookup(_OPENVEX_JUSTIFICATIONS, fields.flag_label, "CSAF flag label")
    responses: list[Response] = []
    for remediation in fields.remediations:
        response = CSAF_REMEDIATION_TO_RESPONSE.get(remediation.category)
        if response is None:
            raise VexError(f"unknown CSAF remediation category {remediation.category!r}")
        responses.append(response)
    decision = TriageDecision(
        status=status,
        justification=justification,
        responses=tuple(responses),
        detail=fields.details,
        impact_statement=fields.impact,
    )
    return ImportedDecision(decision, VexFormat.CSAF, fields.product_status, fields.flag_label)
