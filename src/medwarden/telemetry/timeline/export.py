"""The timeline as plain JSON (format ``medwarden-timeline-v1``, see ``docs/timeline.md``).

:func:`timeline_to_json` returns plain Python values (dict, list, str, int, float, bool,
None); :func:`timeline_to_json_bytes` writes them as compact JSON with sorted keys, so two
exports of the same timeline are byte-identical.  Times are UTC, written
``YYYY-MM-DDTHH:MM:SS.ffffffZ``; signatures are base64url without padding.
"""

from __future__ import annotations

from datetime import UTC, datetime

from medwarden.core.b64 import b64url_encode
from medwarden.core.digests import canonical_json
from medwarden.telemetry.records import JsonObject
from medwarden.telemetry.timeline.model import (
    BreakEntry,
    ChainVerification,
    CommandLink,
    DeviceDescription,
    EventEntry,
    GapEntry,
    LastContact,
    LoopEpisode,
    MissingLink,
    RecordRef,
    Timeline,
    TimelineEntry,
    TimelineFinding,
    TimelineRecord,
)

__all__ = ["TIMELINE_FORMAT", "format_time", "timeline_to_json", "timeline_to_json_bytes"]

TIMELINE_FORMAT = "medwarden-timeline-v1"


def format_time(value: datetime) -> str:
    """Write an aware instant as UTC with microseconds and ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ref(ref: RecordRef | None) -> JsonObject | None:
    if ref is None:
        return None
    return {"boot_id": ref.boot_id, "seq": ref.seq, "record_hash": ref.record_hash}


def _record(item: TimelineRecord | None) -> JsonObject | None:
    if item is None:
        return None
    r = item.record
    sig = item.signature
    return {
        "boot_id": r.boot_id,
        "seq": r.seq,
        "record_hash": item.record_hash,
        "record_type": r.record_type.value,
        "device_time": format_time(r.device_time),
        "received_at": format_time(item.received_at),
        "ledger_index": item.ledger_index,
        "inclusion_verified": item.inclusion_verified,
        "prev_hash": r.prev_hash,
        "body": r.body,
        "signature": None if sig is None else b64url_encode(sig),
    }


def _finding(finding: TimelineFinding) -> JsonObject:
    return {
        "check_id": finding.check_id,
        "severity": finding.severity.value,
        "detail": finding.detail,
        "evidence": [_ref(ref) for ref in finding.evidence],
    }


def _missing(links: tuple[MissingLink, ...]) -> list[JsonObject]:
    return [{"link": m.kind.value, "detail": m.detail} for m in links]


def _command(link: CommandLink) -> JsonObject:
    return {
        "command": _record(link.command),
        "confirmations": [_record(c) for c in link.confirmations],
    }


def _gap(gap: GapEntry) -> JsonObject:
    return {
        "kind": "gap",
        "boot_id": gap.boot_id,
        "first_seq": gap.first_seq,
        "last_seq": gap.last_seq,
        "after": _ref(gap.after),
        "before": _ref(gap.before),
        "detail": gap.detail,
    }


def _break(brk: BreakEntry) -> JsonObject:
    return {
        "kind": "break",
        "break": brk.kind.value,
        "record": _ref(brk.at),
        "previous": _ref(brk.previous),
        "detail": brk.detail,
    }


def _entry(entry: TimelineEntry) -> JsonObject:
    if isinstance(entry, LoopEpisode):
        return {
            "kind": "episode",
            "device_time": format_time(min(r.record.device_time for r in entry.records)),
            "reading": _record(entry.reading),
            "decision": _record(entry.decision),
            "commands": [_command(link) for link in entry.commands],
            "missing": _missing(entry.missing),
            "findings": [_finding(f) for f in entry.findings],
        }
    if isinstance(entry, EventEntry):
        return {
            "kind": "event",
            "device_time": format_time(entry.record.record.device_time),
            "record": _record(entry.record),
            "missing": _missing(entry.missing),
            "findings": [_finding(f) for f in entry.findings],
        }
    if isinstance(entry, GapEntry):
        return _gap(entry)
    if isinstance(entry, BreakEntry):
        return _break(entry)
    return _last_contact(entry)


def _last_contact(entry: LastContact) -> JsonObject:
    return {
        "kind": "last_contact",
        "last_record": _ref(entry.last_record),
        "last_device_time": format_time(entry.last_device_time),
        "last_received_at": format_time(entry.last_received_at),
    }


def _device(device: DeviceDescription) -> JsonObject:
    return {
        "device_id": device.device_id,
        "model": device.model,
        "serial": device.serial,
        "software_version": device.software_version,
        "firmware_version": device.firmware_version,
        "controller": {
            "algorithm": device.controller_algorithm,
            "version": device.controller_version,
        },
        "patient_ref": device.patient_ref,
    }


def _verification(v: ChainVerification) -> JsonObject:
    return {
        "status": v.status.value,
        "record_count": v.record_count,
        "verified_links": v.verified_links,
        "starts_at_genesis": v.starts_at_genesis,
        "boots": list(v.boots),
        "breaks": [_break(b) for b in v.breaks],
        "gaps": [_gap(g) for g in v.gaps],
        "inclusion_unverified": [_ref(r) for r in v.inclusion_unverified],
    }


def timeline_to_json(timeline: Timeline) -> JsonObject:
    """Return the timeline as a JSON object of the documented ``medwarden-timeline-v1`` shape."""
    return {
        "format": TIMELINE_FORMAT,
        "device": _device(timeline.device),
        "window": {
            "start": None if timeline.window_start is None else format_time(timeline.window_start),
            "end": None if timeline.window_end is None else format_time(timeline.window_end),
        },
        "verification": _verification(timeline.verification),
        "entries": [_entry(e) for e in timeline.entries],
        "unattached_findings": [_finding(f) for f in timeline.unattached_findings],
    }


def timeline_to_json_bytes(timeline: Timeline) -> bytes:
    """Return :func:`timeline_to_json` as compact, key-sorted JSON bytes (stable)."""
    return canonical_json(timeline_to_json(timeline))
