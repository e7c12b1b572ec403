"""Hypothesis strategies for audit events: drafts, sealed chains, and field replacements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from medwarden.audit.chain import GENESIS, seal
from medwarden.audit.model import AuditEvent, EventDraft

_CHARS = st.characters(exclude_categories=("Cc", "Cs"))

texts = st.text(_CHARS, min_size=1, max_size=12).filter(lambda s: s.strip())
"""Non-blank text without control characters or surrogates."""

reasons = st.none() | st.text(_CHARS | st.sampled_from("\n\t"), min_size=1, max_size=20).filter(
    lambda s: s.strip()
)
"""An optional reason (newlines and tabs allowed)."""

actions = st.from_regex(r"[a-z][a-z0-9_]{0,6}(\.[a-z][a-z0-9_]{0,6}){1,2}", fullmatch=True)
"""Namespaced actions such as ``intel.load``."""

times = st.datetimes(
    min_value=datetime(1970, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5))]),
)
"""Aware datetimes in a few zones, with microseconds."""

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_CHARS, max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(_CHARS, max_size=6), json_values, max_size=4)
"""JSON objects the audit trail accepts as ``before``/``after``."""

hashes = st.text("0123456789abcdef", min_size=64, max_size=64)


@st.composite
def drafts(draw: st.DrawFn) -> EventDraft:
    """Any valid event draft."""
    return EventDraft(
        at=draw(times),
        actor=draw(texts),
        action=draw(actions),
        subject_type=draw(texts),
        subject_id=draw(texts),
        before=draw(st.none() | json_objects),
        after=draw(st.none() | json_objects),
        reason=draw(reasons),
    )


def chain_of(items: list[EventDraft]) -> list[AuditEvent]:
    """Seal ``items`` into a chain starting at the genesis."""
    events: list[AuditEvent] = []
    prev = GENESIS
    for seq, draft in enumerate(items, start=1):
        events.append(seal(draft, seq, prev))
        prev = events[-1].hash
    return events


def chains(min_size: int = 1, max_size: int = 8) -> st.SearchStrategy[list[AuditEvent]]:
    """Valid sealed chains of ``min_size`` to ``max_size`` events."""
    return st.lists(drafts(), min_size=min_size, max_size=max_size).map(chain_of)


FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "seq": st.integers(1, 50),
    "at": times,
    "actor": texts,
    "action": actions,
    "subject_type": texts,
    "subject_id": texts,
    "before": st.none() | json_objects,
    "after": st.none() | json_objects,
    "reason": reasons,
    "prev_hash": hashes,
    "hash": hashes,
}
"""For each field of an :class:`AuditEvent`, the values it may validly hold."""
