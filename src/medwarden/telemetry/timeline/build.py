"""Build a device's timeline from stored records, its description and check results.

:func:`build_timeline` is pure: the same records (in any order, duplicates allowed), device
and findings give the same :class:`~medwarden.telemetry.timeline.model.Timeline`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from medwarden.errors import InputError
from medwarden.telemetry.timeline.episodes import SortKey, group_entries
from medwarden.telemetry.timeline.model import (
    BreakEntry,
    DeviceDescription,
    EventEntry,
    GapEntry,
    LastContact,
    LoopEpisode,
    RecordRef,
    Timeline,
    TimelineEntry,
    TimelineFinding,
    TimelineRecord,
    aware_utc,
)
from medwarden.telemetry.timeline.order import OrderedWindow, order_window, verify_chain

__all__ = ["build_timeline"]

_Entry = LoopEpisode | EventEntry


def _gap_key(window: OrderedWindow, gap: GapEntry) -> SortKey:
    return (window.rank[gap.boot_id], gap.first_seq, 0, "gap")


def _break_key(window: OrderedWindow, brk: BreakEntry) -> SortKey:
    return (window.rank[brk.at.boot_id], brk.at.seq, 0, f"break:{brk.kind.value}")


def _attach(
    grouped: list[tuple[SortKey, _Entry]], findings: Iterable[TimelineFinding]
) -> tuple[list[tuple[SortKey, _Entry]], tuple[TimelineFinding, ...]]:
    """Give each entry the findings whose evidence names one of its records."""
    where: dict[RecordRef, int] = {}
    for index, (_, entry) in enumerate(grouped):
        for item in entry.records:
            where[item.ref] = index
    attached: dict[int, set[TimelineFinding]] = defaultdict(set)
    unattached: set[TimelineFinding] = set()
    for finding in findings:
        if not isinstance(finding, TimelineFinding):
            raise InputError(f"timeline findings must be TimelineFinding, not {type(finding)}")
        hits = {where[ref] for ref in finding.evidence if ref in where}
        if not hits:
            unattached.add(finding)
        for index in hits:
            attached[index].add(finding)
    out = [
        (key, replace(entry, findings=tuple(sorted(attached[i]))) if i in attached else entry)
        for i, (key, entry) in enumerate(grouped)
    ]
    return out, tuple(sorted(unattached))


def _last_contact(records: tuple[TimelineRecord, ...]) -> LastContact:
    last = records[-1]
    return LastContact(
        last_record=last.ref,
        last_device_time=last.record.device_time,
        last_received_at=max(item.received_at for item in records),
    )


def build_timeline(
    records: Iterable[TimelineRecord],
    device: DeviceDescription,
    findings: Iterable[TimelineFinding] = (),
    *,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> Timeline:
    """Order, verify and group ``records`` into the device's timeline.

    ``records`` are the device's stored records for the window, in any order; identical
    duplicates are merged, two different records at one (boot, seq) raise
    :class:`~medwarden.errors.InputError`, and a record of another device raises
    :class:`~medwarden.errors.UsageError`.  ``window_start``/``window_end`` are echoed in
    the output only (the store selects the records).  The entries end with a
    :class:`LastContact` marker unless the window is empty.
    """
    if not isinstance(device, DeviceDescription):
        raise InputError("build_timeline needs a DeviceDescription")
    start = None if window_start is None else aware_utc("window_start", window_start)
    end = None if window_end is None else aware_utc("window_end", window_end)
    window = order_window(records, device.device_id)
    verification = verify_chain(window)
    grouped, unattached = _attach(group_entries(window), findings)
    keyed: list[tuple[SortKey, TimelineEntry]] = list(grouped)
    keyed.extend((_gap_key(window, gap), gap) for gap in verification.gaps)
    keyed.extend((_break_key(window, brk), brk) for brk in verification.breaks)
    keyed.sort(key=lambda pair: pair[0])
    entries: list[TimelineEntry] = [entry for _, entry in keyed]
    if window.records:
        entries.append(_last_contact(window.records))
    return Timeline(
        device=device,
        window_start=start,
        window_end=end,
        records=window.records,
        entries=tuple(entries),
        verification=verification,
        unattached_findings=unattached,
    )
