"""Grouping of control loops into episodes, standalone events and attached findings."""

from __future__ import annotations

from medwarden.telemetry.records import RecordType
from medwarden.telemetry.timeline import (
    EventEntry,
    FindingSeverity,
    LoopEpisode,
    MissingLinkKind,
    RecordRef,
    TimelineFinding,
    build_timeline,
)
from tests.telemetry.timeline.chains import Chain, description


def _episodes(timeline):
    return [e for e in timeline.entries if isinstance(e, LoopEpisode)]


def _events(timeline):
    return [e for e in timeline.entries if isinstance(e, EventEntry)]


def _missing(entry):
    return [m.kind for m in entry.missing]


def test_a_full_loop_is_one_episode_with_nothing_missing() -> None:
    chain = Chain()
    reading = chain.reading(110)
    decision = chain.decision(rate=0.8)
    command = chain.command("c-1", decision)
    alarm = chain.event(RecordType.ALARM, {"code": "A1", "severity": "low"})
    confirmation = chain.confirm("c-1", body={"rate_u_h": 0.8})
    timeline = build_timeline(chain.stored, description())
    (episode,) = _episodes(timeline)
    assert episode.reading == reading
    assert episode.decision == decision
    assert len(episode.commands) == 1
    assert episode.commands[0].command == command
    assert episode.commands[0].confirmations == (confirmation,)
    assert episode.missing == ()
    (event,) = _events(timeline)
    assert event.record == alarm
    # the episode starts before the alarm, which starts before the last-contact marker
    assert [type(e).__name__ for e in timeline.entries] == [
        "LoopEpisode",
        "EventEntry",
        "LastContact",
    ]


def test_consecutive_loops_are_separate_episodes_in_chain_order() -> None:
    chain = Chain()
    for n in range(3):
        chain.loop(n, glucose=100 + n)
    episodes = _episodes(build_timeline(chain.stored, description()))
    assert [e.reading.record.body["glucose_mg_dl"] for e in episodes] == [100, 101, 102]
    assert all(e.missing == () for e in episodes)


def test_a_command_never_confirmed_is_marked_missing_its_confirmation() -> None:
    chain = Chain()
    chain.reading()
    chain.command("c-9", chain.decision(), kind="temp_basal")
    (episode,) = _episodes(build_timeline(chain.stored, description()))
    assert _missing(episode) == [MissingLinkKind.CONFIRMATION]
    assert "c-9" in episode.missing[0].detail
    assert episode.commands[0].confirmations == ()


def test_a_decision_asking_for_change_without_command_is_marked() -> None:
    chain = Chain()
    chain.reading()
    chain.decision(rate=2.0)
    (episode,) = _episodes(build_timeline(chain.stored, description()))
    assert _missing(episode) == [MissingLinkKind.COMMAND]
    assert "2.0 U/h" in episode.missing[0].detail


def test_a_no_change_decision_needs_no_command() -> None:
    chain = Chain()
    chain.reading()
    chain.decision(rate=None, smb=0)
    (episode,) = _episodes(build_timeline(chain.stored, description()))
    assert episode.missing == ()


def test_an_unreadable_decision_output_fails_closed() -> None:
    chain = Chain()
    chain.reading()
    chain.add(
        RecordType.CONTROLLER_DECISION,
        {"algorithm": "oref0", "algorithm_version": "1", "inputs": {}, "output": "oops"},
    )
    (episode,) = _episodes(build_timeline(chain.stored, description()))
    assert _missing(episode) == [MissingLinkKind.COMMAND]
    assert "unreadable" in episode.missing[0].detail


def test_a_reading_no_decision_used_is_its_own_episode() -> None:
    chain = Chain()
    first = chain.reading(90)
    chain.loop(1)
    episodes = _episodes(build_timeline(chain.stored, description()))
    assert episodes[0].reading == first
    assert episodes[0].decision is None
    assert _missing(episodes[0]) == [MissingLinkKind.DECISION]
    assert episodes[1].missing == ()


def test_a_decision_after_a_gap_does_not_claim_a_reading_across_it() -> None:
    chain = Chain()
    chain.reading()
    chain.reading(store=False)  # the reading the decision really used is lost
    chain.decision(rate=None)
    timeline = build_timeline(chain.stored, description())
    lonely, decided = _episodes(timeline)
    assert lonely.decision is None
    assert _missing(lonely) == [MissingLinkKind.DECISION]
    assert decided.reading is None
    assert _missing(decided) == [MissingLinkKind.READING]


def test_commands_naming_a_missing_decision_share_one_episode() -> None:
    chain = Chain()
    chain.reading()
    lost = chain.decision(smb=0.4, store=False)
    chain.command("c-1", lost, kind="temp_basal")
    chain.command("c-2", lost, kind="bolus")
    chain.confirm("c-1")
    chain.confirm("c-2", body={"delivered_u": 0.4})
    timeline = build_timeline(chain.stored, description())
    reading_only, episode = _episodes(timeline)
    assert reading_only.decision is None
    assert episode.decision is None
    assert [c.command.record.body["command_id"] for c in episode.commands] == ["c-1", "c-2"]
    assert _missing(episode) == [MissingLinkKind.DECISION]
    assert "not in the window" in episode.missing[0].detail


def test_a_command_naming_a_record_that_is_no_decision_is_marked() -> None:
    chain = Chain()
    reading = chain.reading()
    chain.command("c-1", reading)
    chain.confirm("c-1")
    episodes = _episodes(build_timeline(chain.stored, description()))
    assert "is a sensor_reading" in episodes[-1].missing[0].detail


def test_a_manual_command_without_decision_seq_misses_nothing() -> None:
    chain = Chain()
    chain.event(RecordType.USER_OVERRIDE, {"kind": "manual_bolus", "units": 2})
    chain.command("m-1", None, kind="bolus")
    chain.confirm("m-1", body={"delivered_u": 2})
    timeline = build_timeline(chain.stored, description())
    (episode,) = _episodes(timeline)
    assert episode.decision is None
    assert episode.missing == ()
    assert [e.record.record_type for e in _events(timeline)] == [RecordType.USER_OVERRIDE]


def test_a_decision_may_carry_several_commands_each_confirmed() -> None:
    chain = Chain()
    chain.reading()
    dec = chain.decision(rate=1.0, smb=0.3)
    chain.command("t-1", dec, kind="temp_basal")
    chain.command("b-1", dec, kind="bolus")
    chain.confirm("b-1", body={"delivered_u": 0.3})
    chain.confirm("t-1", body={"rate_u_h": 1.0})
    (episode,) = _episodes(build_timeline(chain.stored, description()))
    assert [len(c.confirmations) for c in episode.commands] == [1, 1]
    assert episode.commands[0].confirmations[0].record.body["command_id"] == "t-1"
    assert episode.missing == ()


def test_a_confirmation_without_its_command_is_an_event_missing_the_command() -> None:
    chain = Chain()
    chain.command("c-1", None, store=False)
    chain.confirm("c-1")
    (event,) = _events(build_timeline(chain.stored, description()))
    assert _missing(event) == [MissingLinkKind.COMMAND]


def test_standalone_records_are_events() -> None:
    chain = Chain()
    chain.event(RecordType.MODE_CHANGE, {"mode": "open_loop", "previous": "closed_loop"})
    chain.event(RecordType.ALARM, {"code": "LOW", "severity": "high"})
    chain.event(RecordType.USER_OVERRIDE, {"kind": "temp_target", "target_mg_dl": 140})
    chain.event(RecordType.DEVICE_EVENT, {"event": "reservoir_low"})
    events = _events(build_timeline(chain.stored, description()))
    assert [e.record.record_type for e in events] == [
        RecordType.MODE_CHANGE,
        RecordType.ALARM,
        RecordType.USER_OVERRIDE,
        RecordType.DEVICE_EVENT,
    ]
    assert all(e.missing == () for e in events)


def test_findings_attach_to_the_entries_of_their_evidence() -> None:
    chain = Chain()
    chain.loop(0)
    alarm = chain.event(RecordType.ALARM, {"code": "OCC", "severity": "high"})
    decision = chain.stored[1]
    on_decision = TimelineFinding(
        "controller.replay", FindingSeverity.HIGH, "output differs", (decision.ref,)
    )
    on_both = TimelineFinding(
        "safety.iob", FindingSeverity.MEDIUM, "iob high", (alarm.ref, decision.ref)
    )
    stale = TimelineFinding(
        "x.stale", "low", "names a record not in the window", (RecordRef("boot-z", 1, "0" * 64),)
    )
    general = TimelineFinding("chain.quiet", "info", "device silent for 2 h")
    timeline = build_timeline(
        chain.stored, description(), [on_both, stale, on_decision, general, on_decision]
    )
    (episode,) = _episodes(timeline)
    (event,) = _events(timeline)
    assert [f.check_id for f in episode.findings] == ["controller.replay", "safety.iob"]
    assert event.findings == (on_both,)
    assert [f.check_id for f in timeline.unattached_findings] == ["chain.quiet", "x.stale"]
