"""Inputs are checked when built: malformed store or checks-engine values are refused."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from medwarden.errors import InputError
from medwarden.telemetry.timeline import (
    FindingSeverity,
    RecordRef,
    TimelineFinding,
    build_timeline,
    timeline_to_json,
)
from tests.telemetry.timeline.chains import Chain, description


def _stored():
    chain = Chain()
    return chain.reading()


@pytest.mark.parametrize(
    "changes",
    [
        {"record_hash": "XYZ"},
        {"ledger_index": -1},
        {"ledger_index": True},
        {"received_at": datetime(2026, 1, 1)},  # noqa: DTZ001 -- naive on purpose
        {"inclusion_verified": "yes"},
        {"signature": b"short"},
    ],
)
def test_malformed_timeline_records_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(InputError):
        replace(_stored(), **changes)


def test_received_at_is_normalised_to_utc() -> None:
    local = datetime(2026, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert replace(_stored(), received_at=local).received_at.tzinfo is UTC


def test_findings_check_their_fields_and_sort_their_evidence() -> None:
    a, b = RecordRef("boot-a", 2, "a" * 64), RecordRef("boot-a", 1, "b" * 64)
    finding = TimelineFinding("c.x", "medium", "d", (a, b, a))
    assert finding.severity is FindingSeverity.MEDIUM
    assert finding.evidence == (b, a)
    with pytest.raises(InputError, match="severity"):
        TimelineFinding("c.x", "urgent", "d")
    with pytest.raises(InputError, match="check_id"):
        TimelineFinding(" ", "low", "d")
    with pytest.raises(InputError, match="RecordRef"):
        TimelineFinding("c.x", "low", "d", ("boot-a",))  # type: ignore[arg-type]


def test_findings_accept_plain_tuples_and_other_reference_types() -> None:
    @dataclass(frozen=True)
    class EngineRef:  # the shape of another module's record reference
        boot_id: str
        seq: int
        record_hash: str

    ref = RecordRef("boot-a", 1, "a" * 64)
    from_tuple = TimelineFinding("c.x", "low", "d", (("boot-a", 1, "a" * 64),))  # type: ignore[arg-type]
    from_other = TimelineFinding("c.x", "low", "d", (EngineRef("boot-a", 1, "a" * 64),))  # type: ignore[arg-type]
    assert from_tuple.evidence == from_other.evidence == (ref,)
    with pytest.raises(InputError):
        TimelineFinding("c.x", "low", "d", (("boot-a", 1, "nothex"),))  # type: ignore[arg-type]
    with pytest.raises(InputError):
        RecordRef("boot-a", -1, "a" * 64)


def test_device_description_needs_every_field() -> None:
    with pytest.raises(InputError, match="patient_ref"):
        replace(description(), patient_ref="")


def test_window_bounds_are_echoed_in_utc() -> None:
    start = datetime(2026, 1, 1, 11, tzinfo=UTC)
    end = datetime(2026, 1, 1, 13, tzinfo=UTC)
    timeline = build_timeline([_stored()], description(), window_start=start, window_end=end)
    assert timeline_to_json(timeline)["window"] == {
        "start": "2026-01-01T11:00:00.000000Z",
        "end": "2026-01-01T13:00:00.000000Z",
    }
    with pytest.raises(InputError, match="window_start"):
        build_timeline([], description(), window_start=datetime(2026, 1, 1))  # noqa: DTZ001


def test_wrong_input_types_are_refused() -> None:
    with pytest.raises(InputError):
        build_timeline([object()], description())  # type: ignore[list-item]
    with pytest.raises(InputError):
        build_timeline([], description(), [object()])  # type: ignore[list-item]
