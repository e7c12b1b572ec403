"""Group a window's records into control-loop episodes and standalone events.

Links, each within the data alone:

* reading -> decision: a ``controller_decision`` used the latest ``sensor_reading`` before it
  in its boot, provided no other decision and no sequence gap lies between the two (the
  reading it used could be in the gap).  A reading no decision used is an episode of its
  own with the decision marked missing.
* decision -> command: an ``actuator_command`` whose ``decision_seq`` names a decision of
  its boot.  A command without ``decision_seq`` is a manual command (an episode with no
  decision and nothing missing); one naming a seq the window lacks, or a record that is not
  a decision, marks the decision missing.
* command -> confirmation: an ``actuator_confirmation`` belongs to the latest command before
  it (chain order) with the same ``command_id``; without one it is an event whose command is
  missing.  A command with no confirmation marks the confirmation missing.
* A decision whose output asks for a change (``rate_u_h`` not null or ``smb_u`` > 0) but
  that no command names marks the command missing.  An unreadable output fails closed: it
  is taken to ask for a change.

Mode changes, alarms, user overrides and device events are standalone events.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from medwarden.telemetry.records import RecordType
from medwarden.telemetry.timeline.model import (
    CommandLink,
    EventEntry,
    LoopEpisode,
    MissingLink,
    MissingLinkKind,
    TimelineRecord,
)
from medwarden.telemetry.timeline.order import OrderedWindow

__all__ = ["SortKey", "group_entries"]

SortKey = tuple[int, int, int, str]
"""(boot rank, seq, 0 for gaps and breaks else 1, tie-break text)."""
Key = tuple[str, int]


def _key(item: TimelineRecord) -> Key:
    return (item.record.boot_id, item.record.seq)


def _name(item: TimelineRecord) -> str:
    return f"{item.record.boot_id}/{item.record.seq}"


@dataclass(slots=True)
class _Links:
    """What the walk over the window found, before episodes are built."""

    decisions: dict[Key, TimelineRecord | None] = field(default_factory=dict)
    """Each decision's key -> the reading it used (None when none qualifies)."""
    lonely_readings: list[TimelineRecord] = field(default_factory=list)
    commands: list[TimelineRecord] = field(default_factory=list)
    confirmations: list[TimelineRecord] = field(default_factory=list)
    events: list[TimelineRecord] = field(default_factory=list)


def _walk(window: OrderedWindow) -> _Links:
    links = _Links()
    pending: TimelineRecord | None = None
    prev: TimelineRecord | None = None
    for item in window.records:
        r = item.record
        contiguous = prev is not None and (prev.record.boot_id, prev.record.seq + 1) == _key(item)
        if pending is not None and not contiguous:
            links.lonely_readings.append(pending)
            pending = None
        if r.record_type is RecordType.SENSOR_READING:
            if pending is not None:
                links.lonely_readings.append(pending)
            pending = item
        elif r.record_type is RecordType.CONTROLLER_DECISION:
            links.decisions[_key(item)] = pending
            pending = None
        elif r.record_type is RecordType.ACTUATOR_COMMAND:
            links.commands.append(item)
        elif r.record_type is RecordType.ACTUATOR_CONFIRMATION:
            links.confirmations.append(item)
        else:
            links.events.append(item)
        prev = item
    if pending is not None:
        links.lonely_readings.append(pending)
    return links


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _asks_for_change(decision: TimelineRecord) -> str | None:
    """Why the decision needs a command, or None when its output is "no change"."""
    output = decision.record.body.get("output")
    if not isinstance(output, dict):
        return "its output is unreadable"
    rate, smb = output.get("rate_u_h"), output.get("smb_u", 0)
    if rate is not None:
        return f"it sets a rate of {rate} U/h"
    if smb is None or (_is_number(smb) and smb <= 0):
        return None
    return f"it asks for a micro-bolus of {smb} U"


def _command_id(item: TimelineRecord) -> str | None:
    value = item.record.body.get("command_id")
    return value if isinstance(value, str) else None


def _match_confirmations(
    window: OrderedWindow, links: _Links
) -> tuple[dict[Key, list[TimelineRecord]], list[TimelineRecord]]:
    by_id: dict[str, list[TimelineRecord]] = defaultdict(list)
    for command in links.commands:
        cid = _command_id(command)
        if cid is not None:
            by_id[cid].append(command)
    matched: dict[Key, list[TimelineRecord]] = defaultdict(list)
    orphans: list[TimelineRecord] = []
    for conf in links.confirmations:
        at = window.position(*_key(conf))
        cid = _command_id(conf)
        earlier = [c for c in by_id.get(cid or "", []) if window.position(*_key(c)) < at]
        if cid is None or not earlier:
            orphans.append(conf)
        else:
            matched[_key(earlier[-1])].append(conf)
    return matched, orphans


def _command_links(
    commands: list[TimelineRecord], confirmed: dict[Key, list[TimelineRecord]]
) -> tuple[tuple[CommandLink, ...], list[MissingLink]]:
    out: list[CommandLink] = []
    missing: list[MissingLink] = []
    for command in commands:
        confs = tuple(confirmed.get(_key(command), ()))
        out.append(CommandLink(command, confs))
        if not confs:
            cid = _command_id(command) or "(no command_id)"
            missing.append(
                MissingLink(
                    MissingLinkKind.CONFIRMATION,
                    f"command {cid} ({_name(command)}) has no confirmation in the window",
                )
            )
    return tuple(out), missing


def _decision_episode(
    decision: TimelineRecord,
    reading: TimelineRecord | None,
    commands: list[TimelineRecord],
    confirmed: dict[Key, list[TimelineRecord]],
) -> LoopEpisode:
    missing: list[MissingLink] = []
    if reading is None:
        why = "no sensor reading precedes it in its boot without a gap or another decision between"
        missing.append(MissingLink(MissingLinkKind.READING, f"decision {_name(decision)}: {why}"))
    change = _asks_for_change(decision)
    if not commands and change is not None:
        why = f"decision {_name(decision)} needs a command ({change}) but no command names it"
        missing.append(MissingLink(MissingLinkKind.COMMAND, why))
    cmd_links, unconfirmed = _command_links(commands, confirmed)
    return LoopEpisode(reading, decision, cmd_links, (*missing, *unconfirmed))


def _decision_ref(window: OrderedWindow, command: TimelineRecord) -> tuple[Key | None, str | None]:
    """The decision key a command names, and why that decision is missing (None if present)."""
    body, boot = command.record.body, command.record.boot_id
    if "decision_seq" not in body:
        return None, None
    seq = body["decision_seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return None, f"command {_name(command)} has a malformed decision_seq {seq!r}"
    target = window.by_key.get((boot, seq))
    if target is None:
        return (
            boot,
            seq,
        ), f"decision {boot}/{seq} named by command {_name(command)} is not in the window"
    if target.record_type is not RecordType.CONTROLLER_DECISION:
        kind = target.record_type.value
        return (boot, seq), f"record {boot}/{seq} named by command {_name(command)} is a {kind}"
    return (boot, seq), None


def _command_entries(
    window: OrderedWindow,
    commands: list[TimelineRecord],
    confirmed: dict[Key, list[TimelineRecord]],
) -> tuple[dict[Key, list[TimelineRecord]], list[LoopEpisode]]:
    """Commands by the decision they name, and episodes for commands without one."""
    for_decision: dict[Key, list[TimelineRecord]] = defaultdict(list)
    dangling: dict[Key, list[TimelineRecord]] = defaultdict(list)
    dangling_why: dict[Key, str] = {}
    episodes: list[LoopEpisode] = []
    for command in commands:
        key, why = _decision_ref(window, command)
        if key is None:
            cmd_links, unconfirmed = _command_links([command], confirmed)
            lost = [MissingLink(MissingLinkKind.DECISION, why)] if why else []
            episodes.append(LoopEpisode(None, None, cmd_links, (*lost, *unconfirmed)))
        elif why is None:
            for_decision[key].append(command)
        else:
            dangling[key].append(command)
            dangling_why.setdefault(key, why)
    for key, group in dangling.items():
        cmd_links, unconfirmed = _command_links(group, confirmed)
        absent = MissingLink(MissingLinkKind.DECISION, dangling_why[key])
        episodes.append(LoopEpisode(None, None, cmd_links, (absent, *unconfirmed)))
    return for_decision, episodes


def group_entries(window: OrderedWindow) -> list[tuple[SortKey, LoopEpisode | EventEntry]]:
    """Build the episodes and events of the window, each with its sort key."""
    links = _walk(window)
    confirmed, orphans = _match_confirmations(window, links)
    for_decision, command_episodes = _command_entries(window, links.commands, confirmed)
    entries: list[LoopEpisode | EventEntry] = list(command_episodes)
    for key, reading in links.decisions.items():
        decision = window.by_key[key]
        entries.append(_decision_episode(decision, reading, for_decision[key], confirmed))
    for reading in links.lonely_readings:
        why = MissingLink(
            MissingLinkKind.DECISION, f"no controller decision used reading {_name(reading)}"
        )
        entries.append(LoopEpisode(reading, None, (), (why,)))
    entries.extend(EventEntry(item) for item in links.events)
    for conf in orphans:
        cid = _command_id(conf) or "(no command_id)"
        why = MissingLink(
            MissingLinkKind.COMMAND,
            f"confirmation {_name(conf)} names command {cid}, which is not in the window before it",
        )
        entries.append(EventEntry(conf, (why,)))
    return [(_anchor(window, entry), entry) for entry in entries]


def _anchor(window: OrderedWindow, entry: LoopEpisode | EventEntry) -> SortKey:
    first = min(window.position(*_key(r)) for r in entry.records)
    return (first[0], first[1], 1, "")
