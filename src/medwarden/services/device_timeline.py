"""Timeline reconstruction as a use case: a device's verified history for a time window.

It works on stored data alone, so it is available after the device stopped sending.
Findings shown on it are the security events of the window's records (replays,
gaps, reorders, clock findings, ...) and any early warnings a caller passes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from medwarden.errors import UsageError
from medwarden.telemetry.devices import DeviceRegistration
from medwarden.telemetry.timeline import (
    DeviceDescription,
    FindingSeverity,
    RecordRef,
    Timeline,
    TimelineFinding,
    TimelineRecord,
    build_timeline,
)

__all__ = ["DeviceSource", "TimelineSource", "device_description", "device_timeline"]

_EVENT_SEVERITY = {
    "replay": FindingSeverity.HIGH,
    "broken_link": FindingSeverity.HIGH,
    "bad_signature": FindingSeverity.HIGH,
    "revoked_key": FindingSeverity.HIGH,
    "rotated_key": FindingSeverity.MEDIUM,
    "gap": FindingSeverity.MEDIUM,
    "clock_outside_window": FindingSeverity.MEDIUM,
    "time_backwards": FindingSeverity.MEDIUM,
    "reorder": FindingSeverity.LOW,
    "new_boot": FindingSeverity.INFO,
}


class DeviceSource(Protocol):
    """The registry, as timelines need it."""

    def get(self, device_id: str) -> DeviceRegistration: ...


class TimelineSource(Protocol):
    """Stored records and security events of a window."""

    def window(self, device_id: str, start: datetime, end: datetime) -> list[TimelineRecord]: ...

    def security_events(
        self, device_id: str, start: datetime, end: datetime
    ) -> list[dict[str, Any]]: ...


def device_description(reg: DeviceRegistration) -> DeviceDescription:
    """The timeline's view of a registered device (``unknown`` where nothing was registered)."""
    return DeviceDescription(
        device_id=reg.device_id,
        model=reg.model,
        serial=reg.serial,
        software_version=reg.software_version,
        firmware_version=reg.firmware_version or "unknown",
        controller_algorithm=reg.controller_algorithm or "unknown",
        controller_version=reg.controller_version or "unknown",
        patient_ref=reg.patient_ref or "unassigned",
    )


def _event_finding(event: Mapping[str, Any]) -> TimelineFinding:
    kind = str(event["kind"])
    return TimelineFinding(
        check_id=f"ingest.{kind}",
        severity=_EVENT_SEVERITY.get(kind, FindingSeverity.MEDIUM),
        detail=str(event["detail"]),
        evidence=(RecordRef(event["boot_id"], int(event["seq"]), event["record_hash"]),),
    )


def device_timeline(
    devices: DeviceSource,
    source: TimelineSource,
    device_id: str,
    start: datetime,
    end: datetime,
    *,
    findings: Iterable[TimelineFinding] = (),
) -> Timeline:
    """The verified timeline of ``device_id`` for device times in ``[start, end)``."""
    if end <= start:
        raise UsageError("the window must end after it starts")
    description = device_description(devices.get(device_id))
    records = source.window(device_id, start, end)
    events: Sequence[Mapping[str, Any]] = source.security_events(device_id, start, end)
    known = {r.record_hash for r in records}
    from_events = [_event_finding(e) for e in events if e["record_hash"] in known]
    return build_timeline(
        records,
        description,
        [*from_events, *findings],
        window_start=start,
        window_end=end,
    )
