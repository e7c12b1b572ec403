"""Audit events check and normalise their content when built."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from medwarden.audit import GENESIS, AuditEvent, EventDraft, seal
from medwarden.errors import UsageError

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _draft(**changes: Any) -> EventDraft:
    fields: dict[str, Any] = {
        "at": AT,
        "actor": "alice",
        "action": "intel.load",
        "subject_type": "intel_mirror",
        "subject_id": "nvd",
    }
    return EventDraft(**{**fields, **changes})


def test_time_is_normalised_to_utc() -> None:
    """A time in another zone is stored as the same instant in UTC."""
    draft = _draft(at=datetime(2026, 11, 25, 14, 0, tzinfo=timezone(timedelta(hours=2))))
    assert draft.at == AT
    assert draft.at.tzinfo is UTC


def test_naive_time_is_refused() -> None:
    """A naive datetime is refused rather than guessed."""
    with pytest.raises(UsageError, match="timezone-aware"):
        _draft(at=datetime(2026, 11, 25))  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize("action", ["load", "Intel.load", "intel.", ".load", "intel load", ""])
def test_actions_must_be_namespaced(action: str) -> None:
    """Actions are lowercase ``area.verb``; anything else is a usage error."""
    with pytest.raises(UsageError, match="namespaced"):
        _draft(action=action)


@pytest.mark.parametrize("field", ["actor", "subject_type", "subject_id"])
@pytest.mark.parametrize("value", ["", "   ", "a\x00b", "a\nb", "\ud800"])
def test_identifying_text_is_checked(field: str, value: str) -> None:
    """Blank text, control characters and invalid Unicode are refused in identifying fields."""
    with pytest.raises(UsageError, match=field):
        _draft(**{field: value})


def test_reason_may_span_lines_but_not_hold_other_controls() -> None:
    """A reason may contain newlines and tabs, but not NUL or escape characters."""
    assert _draft(reason="line one\n\tline two").reason == "line one\n\tline two"
    with pytest.raises(UsageError, match="reason"):
        _draft(reason="bad\x1b[31m")


def test_states_become_plain_json() -> None:
    """Tuples become lists and nested mappings become dicts, so stored and read-back agree."""
    draft = _draft(before={"versions": ("1.0", "1.1"), "nested": {"n": 1.5}})
    assert draft.before == {"versions": ["1.0", "1.1"], "nested": {"n": 1.5}}


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"x": float("inf")}, "non-finite"),
        ({"x": float("nan")}, "non-finite"),
        ({1: "x"}, "non-text key"),
        ({"x": 2**64}, "64 bits"),
        ({"x": {1, 2}}, "set"),
        ({"x": "\udc80"}, "Unicode"),
        ({"\udc80": 1}, "Unicode"),
    ],
)
def test_states_refuse_what_json_cannot_hold(state: dict[Any, Any], message: str) -> None:
    """Values that JSON would drop or change silently are refused with the field path."""
    with pytest.raises(UsageError, match=message):
        _draft(after=state)


def test_state_must_be_an_object() -> None:
    """``before``/``after`` are JSON objects or None, never a bare list."""
    with pytest.raises(UsageError, match="JSON object"):
        _draft(before=["x"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [("seq", 0), ("seq", True), ("hash", "ABC"), ("prev_hash", "0" * 63), ("hash", "G" * 64)],
)
def test_sealed_event_checks_its_place(field: str, value: Any) -> None:
    """A sealed event needs a positive sequence number and two 64-hex-digit hashes."""
    event = seal(_draft(), 1, GENESIS)
    with pytest.raises(UsageError, match=field):
        dataclasses.replace(event, **{field: value})


def test_draft_of_an_event_is_its_content() -> None:
    """``AuditEvent.draft`` gives back exactly the draft that was sealed."""
    draft = _draft(before={"a": 1}, reason="why")
    event = seal(draft, 3, "a" * 64)
    assert event.draft == draft
    assert (event.seq, event.prev_hash) == (3, "a" * 64)


def test_events_are_frozen() -> None:
    """Events cannot be changed in place (``dataclasses.replace`` makes a new one)."""
    event: AuditEvent = seal(_draft(), 1, GENESIS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.actor = "mallory"  # type: ignore[misc]
