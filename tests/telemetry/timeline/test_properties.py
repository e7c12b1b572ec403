"""Properties: the timeline is a function of the stored records, not of their order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from medwarden.telemetry.fhir import fhir_bundle_bytes
from medwarden.telemetry.records import RecordType
from medwarden.telemetry.timeline import (
    EventEntry,
    FindingSeverity,
    LastContact,
    LoopEpisode,
    TimelineFinding,
    build_timeline,
    timeline_to_json_bytes,
)
from tests.telemetry.timeline.chains import Chain, description

OPS = st.sampled_from(
    ["reading", "decision", "command", "manual", "confirm", "alarm", "reboot", "drop", "badlink"]
)


def _play(ops: list[str], pick: st.DataObject) -> Chain:
    chain = Chain()
    decisions: list[int] = []
    commands: list[str] = []
    boots = 0
    for n, op in enumerate(ops):
        if op == "reading":
            chain.reading(pick.draw(st.integers(40, 400)))
        elif op == "decision":
            rate = pick.draw(st.none() | st.floats(0, 5, allow_nan=False))
            decisions.append(chain.decision(rate=rate).record.seq)
        elif op in ("command", "manual"):
            target = decisions[-1] if decisions and op == "command" else None
            kind = pick.draw(st.sampled_from(["temp_basal", "bolus", "suspend"]))
            commands.append(f"c-{n}")
            chain.command(f"c-{n}", target, kind=kind)
        elif op == "confirm":
            cid = pick.draw(st.sampled_from([*commands, "c-unknown"]))
            chain.confirm(cid, status=pick.draw(st.sampled_from(["delivered", "failed"])))
        elif op == "alarm":
            chain.event(RecordType.ALARM, {"code": "A", "severity": "low"})
        elif op == "reboot":
            boots += 1
            chain.reboot(f"boot-{boots}")
            decisions.clear()
        elif op == "drop":
            chain.reading(store=False)
        else:
            chain.reading(prev_hash="ee" * 32)
    return chain


@given(ops=st.lists(OPS, max_size=25), pick=st.data())
def test_any_shuffle_of_the_input_yields_the_same_timeline(
    ops: list[str], pick: st.DataObject
) -> None:
    chain = _play(ops, pick)
    findings = [
        TimelineFinding(f"check.{i}", FindingSeverity.LOW, "x", (item.ref,))
        for i, item in enumerate(chain.stored[::3])
    ]
    reference = build_timeline(chain.stored, description(), findings)
    shuffled = pick.draw(st.permutations(chain.stored))
    duplicated = (
        pick.draw(st.lists(st.sampled_from(chain.stored), max_size=3)) if chain.stored else []
    )
    again = build_timeline(
        [*shuffled, *duplicated], description(), pick.draw(st.permutations(findings))
    )
    assert again == reference
    assert timeline_to_json_bytes(again) == timeline_to_json_bytes(reference)
    assert fhir_bundle_bytes(again) == fhir_bundle_bytes(reference)


@given(ops=st.lists(OPS, max_size=25), pick=st.data())
def test_every_record_sits_in_exactly_one_entry_and_contact_comes_last(
    ops: list[str], pick: st.DataObject
) -> None:
    chain = _play(ops, pick)
    timeline = build_timeline(chain.stored, description())
    seen = [
        item.ref
        for entry in timeline.entries
        if isinstance(entry, LoopEpisode | EventEntry)
        for item in entry.records
    ]
    assert sorted(seen) == sorted(item.ref for item in chain.stored)
    contacts = [e for e in timeline.entries if isinstance(e, LastContact)]
    assert len(contacts) == (1 if chain.stored else 0)
    if chain.stored:
        assert timeline.entries[-1] is contacts[0]
