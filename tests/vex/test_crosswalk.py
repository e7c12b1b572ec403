"""The status crosswalk (REQUIREMENTS 38): internal -> each format -> internal keeps the meaning."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.errors import VexError
from medwarden.vex.crosswalk import (
    CSAF_REMEDIATION_TO_RESPONSE,
    CSAF_STATUS_TO_STATUS,
    DETAIL_PROPERTY,
    RESPONSE_TO_CSAF_REMEDIATION,
    STATUS_TO_CSAF_STATUS,
    CsafFields,
    CsafRemediation,
    CycloneDxAnalysis,
    OpenVexFields,
    VexFormat,
    from_csaf,
    from_cyclonedx,
    from_openvex,
    to_csaf,
    to_cyclonedx,
    to_openvex,
)
from medwarden.vex.model import (
    CDX_JUSTIFICATION_TO_JUSTIFICATION,
    CDX_STATE_TO_STATUS,
    JUSTIFICATION_TO_CDX,
    STATUS_TO_CDX_STATE,
    VexJustification,
    VexStatus,
)
from medwarden.vex.triage import Response, TriageDecision

texts = st.one_of(st.none(), st.text(min_size=1, max_size=40).filter(lambda t: t.strip() != ""))


@st.composite
def exchangeable(draw: st.DrawFn, status: VexStatus | None = None) -> TriageDecision:
    """A decision of the exchangeable fields (justification only with not_affected)."""
    chosen = draw(st.sampled_from(VexStatus)) if status is None else status
    justification = None
    if chosen is VexStatus.NOT_AFFECTED:
        justification = draw(st.one_of(st.none(), st.sampled_from(VexJustification)))
    return TriageDecision(
        status=chosen,
        justification=justification,
        responses=tuple(draw(st.lists(st.sampled_from(Response), max_size=4))),
        detail=draw(texts),
        impact_statement=draw(texts),
    )


def _core(decision: TriageDecision) -> tuple[object, ...]:
    return (decision.status, decision.justification, decision.impact_statement)


@pytest.mark.parametrize("status", list(VexStatus))
@given(data=st.data())
def test_cyclonedx_round_trip_is_lossless(status: VexStatus, data: st.DataObject) -> None:
    """Status, justification code, impact statement, detail and responses all survive."""
    decision = data.draw(exchangeable(status))
    imported = from_cyclonedx(to_cyclonedx(decision))
    assert imported.decision == decision
    assert imported.source_format is VexFormat.CYCLONEDX
    assert imported.source_status == STATUS_TO_CDX_STATE[status]


@pytest.mark.parametrize("status", list(VexStatus))
@given(data=st.data())
def test_openvex_round_trip(status: VexStatus, data: st.DataObject) -> None:
    """Status, justification code and impact statement survive; the detail when given."""
    decision = data.draw(exchangeable(status))
    imported = from_openvex(to_openvex(decision))
    assert _core(imported.decision) == _core(decision)
    assert imported.source_justification == (
        None if decision.justification is None else decision.justification.value
    )
    if decision.detail is not None:
        assert imported.decision.detail == decision.detail


@pytest.mark.parametrize("status", list(VexStatus))
@given(data=st.data())
def test_csaf_round_trip(status: VexStatus, data: st.DataObject) -> None:
    """Status, flag label (justification), impact and detail survive; responses by category."""
    decision = data.draw(exchangeable(status))
    fields = to_csaf(decision)
    imported = from_csaf(fields)
    assert _core(imported.decision) == _core(decision)
    assert imported.decision.detail == decision.detail
    assert imported.source_status == STATUS_TO_CSAF_STATUS[status]
    expected = tuple(
        dict.fromkeys(
            CSAF_REMEDIATION_TO_RESPONSE[RESPONSE_TO_CSAF_REMEDIATION[r]]
            for r in decision.responses
        )
    )
    assert imported.decision.responses == expected
    assert all(r.details for r in fields.remediations)  # CSAF requires details


@given(exchangeable())
def test_round_trip_through_every_format_in_turn(decision: TriageDecision) -> None:
    """internal -> CycloneDX -> internal -> OpenVEX -> internal -> CSAF -> internal."""
    once = from_cyclonedx(to_cyclonedx(decision)).decision
    twice = from_openvex(to_openvex(once)).decision
    thrice = from_csaf(to_csaf(twice)).decision
    assert _core(thrice) == _core(decision)


@pytest.mark.parametrize("code", sorted(CDX_JUSTIFICATION_TO_JUSTIFICATION))
def test_original_cyclonedx_justification_code_is_kept(code: str) -> None:
    """CycloneDX -> internal -> CycloneDX writes the document's own code back."""
    analysis = CycloneDxAnalysis(state="not_affected", justification=code, detail="why")
    imported = from_cyclonedx(analysis)
    assert imported.source_justification == code
    assert imported.decision.justification is CDX_JUSTIFICATION_TO_JUSTIFICATION[code]
    assert imported.decision.impact_statement == "why"
    again = to_cyclonedx(imported.decision, source_justification=imported.source_justification)
    assert again == analysis
    # without the original code the canonical one is written
    assert (
        to_cyclonedx(imported.decision).justification
        == JUSTIFICATION_TO_CDX[
            imported.decision.justification  # type: ignore[index]
        ]
    )


def test_a_stale_source_code_is_not_written() -> None:
    """A source code that no longer means the decision's justification is ignored."""
    decision = TriageDecision(
        VexStatus.NOT_AFFECTED, justification=VexJustification.COMPONENT_NOT_PRESENT
    )
    written = to_cyclonedx(decision, source_justification="code_not_present")
    assert written.justification == "requires_dependency"


def test_status_tables_agree_with_the_readers() -> None:
    """Every internal status is written and read back through each table."""
    for status in VexStatus:
        assert CDX_STATE_TO_STATUS[STATUS_TO_CDX_STATE[status]] is status
        assert CSAF_STATUS_TO_STATUS[STATUS_TO_CSAF_STATUS[status]] is status
    assert CSAF_STATUS_TO_STATUS["first_affected"] is VexStatus.AFFECTED
    assert from_cyclonedx(CycloneDxAnalysis("false_positive")).decision.status is (
        VexStatus.NOT_AFFECTED
    )


def test_texts_travel_in_the_documented_places() -> None:
    """CycloneDX detail/properties; OpenVEX action statement and notes; CSAF parts."""
    decision = TriageDecision(
        VexStatus.NOT_AFFECTED,
        justification=VexJustification.INLINE_MITIGATIONS_ALREADY_EXIST,
        detail="checked by the security team",
        impact_statement="input is length-checked before the call",
    )
    cdx = to_cyclonedx(decision)
    assert cdx.detail == "input is length-checked before the call"
    assert cdx.properties == ((DETAIL_PROPERTY, "checked by the security team"),)
    assert cdx.justification == "protected_by_mitigating_control"
    openvex = to_openvex(decision)
    assert (openvex.status_notes, openvex.action_statement) == (
        "checked by the security team",
        None,
    )
    csaf = to_csaf(decision)
    assert (csaf.product_status, csaf.flag_label) == (
        "known_not_affected",
        "inline_mitigations_already_exist",
    )
    affected = TriageDecision(
        VexStatus.AFFECTED, responses=(Response.UPDATE, Response.WORKAROUND_AVAILABLE)
    )
    action = to_openvex(affected).action_statement
    assert action is not None
    assert "Update" in action
    assert "workaround" in action
    assert [r.category for r in to_csaf(affected).remediations] == ["vendor_fix", "workaround"]


@pytest.mark.parametrize(
    ("reader", "value"),
    [
        (from_cyclonedx, CycloneDxAnalysis("exploded")),
        (from_cyclonedx, CycloneDxAnalysis("not_affected", justification="because")),
        (from_cyclonedx, CycloneDxAnalysis("exploitable", response=("pray",))),
        (from_openvex, OpenVexFields("maybe")),
        (from_openvex, OpenVexFields("not_affected", justification="because")),
        (from_csaf, CsafFields("recommended")),
        (from_csaf, CsafFields("known_not_affected", flag_label="because")),
        (from_csaf, CsafFields("known_affected", remediations=(CsafRemediation("pray", "x"),))),
    ],
)
def test_unknown_codes_are_refused(reader: object, value: object) -> None:
    """Unknown statuses, justifications, responses and categories raise VexError."""
    with pytest.raises(VexError):
        reader(value)  # type: ignore[operator]
