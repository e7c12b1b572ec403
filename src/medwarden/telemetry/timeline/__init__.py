"""Timeline reconstruction: a device's stored records as an ordered, verified history.

:func:`build_timeline` orders a window of stored records by chain order (boots as they
occurred, then seq), verifies every link it can, groups control loops into episodes
(reading -> decision -> commands -> confirmations) with missing links explicit, shows gaps
and breaks as entries, attaches check findings and ends with a last-contact marker.
:func:`timeline_to_json` exports it (format ``medwarden-timeline-v1``);
:mod:`medwarden.telemetry.fhir` exports it as a FHIR R4 Bundle.  See ``docs/timeline.md``.
"""

from __future__ import annotations

from medwarden.telemetry.timeline.build import build_timeline
from medwarden.telemetry.timeline.export import (
    TIMELINE_FORMAT,
    format_time,
    timeline_to_json,
    timeline_to_json_bytes,
)
from medwarden.telemetry.timeline.model import (
    BreakEntry,
    BreakKind,
    ChainStatus,
    ChainVerification,
    CommandLink,
    DeviceDescription,
    EventEntry,
    FindingSeverity,
    GapEntry,
    LastContact,
    LoopEpisode,
    MissingLink,
    MissingLinkKind,
    RecordRef,
    Timeline,
    TimelineEntry,
    TimelineFinding,
    TimelineRecord,
)

__all__ = [
    "TIMELINE_FORMAT",
    "BreakEntry",
    "BreakKind",
    "ChainStatus",
    "ChainVerification",
    "CommandLink",
    "DeviceDescription",
    "EventEntry",
    "FindingSeverity",
    "GapEntry",
    "LastContact",
    "LoopEpisode",
    "MissingLink",
    "MissingLinkKind",
    "RecordRef",
    "Timeline",
    "TimelineEntry",
    "TimelineFinding",
    "TimelineRecord",
    "build_timeline",
    "format_time",
    "timeline_to_json",
    "timeline_to_json_bytes",
]
