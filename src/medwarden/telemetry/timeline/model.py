"""Values of the timeline: its inputs (stored records, device, findings) and its entries.

Everything here is a frozen, slotted dataclass checked when built: inputs come from the
store and from the checks engine, and a malformed one raises
:class:`~medwarden.errors.InputError` (MW100) instead of producing a misleading timeline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from medwarden.errors import InputError
from medwarden.telemetry.records import DeviceRecord, RecordType

__all__ = [
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
]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SIGNATURE_LEN = 64


def aware_utc(name: str, value: object) -> datetime:
    """Return ``value`` as aware UTC; refuse anything but an aware datetime."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InputError(f"{name} must be a timezone-aware datetime, not {value!r}")
    return value.astimezone(UTC)


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{name} must be non-empty text, not {value!r}")
    return value


@dataclass(frozen=True, slots=True, order=True)
class RecordRef:
    """Names one record of a device's chain: boot, sequence number and hash."""

    boot_id: str
    seq: int
    record_hash: str

    def __post_init__(self) -> None:
        _text("record ref boot_id", self.boot_id)
        if isinstance(self.seq, bool) or not isinstance(self.seq, int) or self.seq < 0:
            raise InputError(f"record ref seq must be an integer >= 0, not {self.seq!r}")
        if not isinstance(self.record_hash, str) or not _HEX64.fullmatch(self.record_hash):
            raise InputError("record ref record_hash must be 64 lowercase hex digits")


@dataclass(frozen=True, slots=True)
class TimelineRecord:
    """One stored record as the store hands it to the timeline.

    ``record_hash`` is the hash the store recorded; the timeline recomputes it and reports
    a mismatch as a chain break.  ``signature`` is the device's Ed25519 signature over the
    record's canonical bytes, when the store kept it (it is carried into FHIR Provenance).
    """

    record: DeviceRecord
    record_hash: str
    ledger_index: int
    received_at: datetime
    inclusion_verified: bool
    signature: bytes | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.record, DeviceRecord):
            raise InputError("a timeline record needs a DeviceRecord")
        if not isinstance(self.record_hash, str) or not _HEX64.fullmatch(self.record_hash):
            raise InputError("a timeline record's record_hash must be 64 lowercase hex digits")
        if (
            isinstance(self.ledger_index, bool)
            or not isinstance(self.ledger_index, int)
            or self.ledger_index < 0
        ):
            raise InputError(f"ledger_index must be an integer >= 0, not {self.ledger_index!r}")
        object.__setattr__(self, "received_at", aware_utc("received_at", self.received_at))
        if not isinstance(self.inclusion_verified, bool):
            raise InputError("inclusion_verified must be True or False")
        if self.signature is not None and (
            not isinstance(self.signature, bytes) or len(self.signature) != _SIGNATURE_LEN
        ):
            raise InputError(f"an Ed25519 signature is {_SIGNATURE_LEN} bytes")

    @property
    def ref(self) -> RecordRef:
        """The (boot, seq, stored hash) reference of this record."""
        return RecordRef(self.record.boot_id, self.record.seq, self.record_hash)

    @property
    def record_type(self) -> RecordType:
        """The type of the wrapped record."""
        return self.record.record_type


@dataclass(frozen=True, slots=True)
class DeviceDescription:
    """What the store knows of the device; ``patient_ref`` is a pseudonym, never a name."""

    device_id: str
    model: str
    serial: str
    software_version: str
    firmware_version: str
    controller_algorithm: str
    controller_version: str
    patient_ref: str

    def __post_init__(self) -> None:
        for name in (
            "device_id",
            "model",
            "serial",
            "software_version",
            "firmware_version",
            "controller_algorithm",
            "controller_version",
            "patient_ref",
        ):
            _text(f"device {name}", getattr(self, name))


class FindingSeverity(StrEnum):
    """How serious a check result is (mapped from the checks engine's own scale)."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


def _as_ref(value: object) -> RecordRef:
    """A :class:`RecordRef` from itself, a (boot_id, seq, record_hash) tuple, or any object
    with those three attributes (such as the checks engine's own record reference)."""
    if isinstance(value, RecordRef):
        return value
    if isinstance(value, tuple) and len(value) == 3:
        return RecordRef(*value)
    try:
        return RecordRef(value.boot_id, value.seq, value.record_hash)  # type: ignore[attr-defined]
    except AttributeError:
        raise InputError(
            "finding evidence must name records as RecordRef or (boot_id, seq, record_hash)"
        ) from None


@dataclass(frozen=True, slots=True, order=True)
class TimelineFinding:
    """A check result to show on the timeline, naming the records it rests on.

    ``evidence`` accepts :class:`RecordRef` values, ``(boot_id, seq, record_hash)`` tuples
    or objects with those attributes, and is stored as sorted, distinct ``RecordRef``.
    """

    check_id: str
    severity: FindingSeverity
    detail: str
    evidence: tuple[RecordRef, ...] = ()

    def __post_init__(self) -> None:
        _text("finding check_id", self.check_id)
        try:
            object.__setattr__(self, "severity", FindingSeverity(self.severity))
        except ValueError:
            raise InputError(f"unknown finding severity {self.severity!r}") from None
        if not isinstance(self.detail, str):
            raise InputError("finding detail must be text")
        evidence = tuple(_as_ref(ref) for ref in self.evidence)
        object.__setattr__(self, "evidence", tuple(sorted(set(evidence))))


class MissingLinkKind(StrEnum):
    """Which link of a control loop is absent from the window."""

    READING = "reading"
    DECISION = "decision"
    COMMAND = "command"
    CONFIRMATION = "confirmation"


@dataclass(frozen=True, slots=True)
class MissingLink:
    """An expected link of an episode that the window does not hold."""

    kind: MissingLinkKind
    detail: str


@dataclass(frozen=True, slots=True)
class CommandLink:
    """An actuator command and the confirmations that name its ``command_id``."""

    command: TimelineRecord
    confirmations: tuple[TimelineRecord, ...]


@dataclass(frozen=True, slots=True)
class LoopEpisode:
    """One control loop: reading -> decision -> commands -> confirmations, as far as known."""

    reading: TimelineRecord | None
    decision: TimelineRecord | None
    commands: tuple[CommandLink, ...]
    missing: tuple[MissingLink, ...]
    findings: tuple[TimelineFinding, ...] = ()

    @property
    def records(self) -> tuple[TimelineRecord, ...]:
        """Every record of the episode, in loop order."""
        out = [r for r in (self.reading, self.decision) if r is not None]
        for link in self.commands:
            out.append(link.command)
            out.extend(link.confirmations)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class EventEntry:
    """A record outside any loop: mode change, alarm, override, device event, orphan."""

    record: TimelineRecord
    missing: tuple[MissingLink, ...] = ()
    findings: tuple[TimelineFinding, ...] = ()

    @property
    def records(self) -> tuple[TimelineRecord, ...]:
        """The single record of the entry."""
        return (self.record,)


@dataclass(frozen=True, slots=True)
class GapEntry:
    """Sequence numbers of a boot that the window lacks; ``last_seq`` None when unknown."""

    boot_id: str
    first_seq: int
    last_seq: int | None
    after: RecordRef | None
    before: RecordRef | None
    detail: str


class BreakKind(StrEnum):
    """Why a link of the chain does not hold."""

    PREV_HASH_MISMATCH = "prev_hash_mismatch"
    HASH_MISMATCH = "hash_mismatch"
    UNEXPECTED_GENESIS = "unexpected_genesis"
    FORK = "fork"


@dataclass(frozen=True, slots=True)
class BreakEntry:
    """A chain link that fails: ``at`` does not link to ``previous`` as it must."""

    kind: BreakKind
    at: RecordRef
    previous: RecordRef | None
    detail: str


@dataclass(frozen=True, slots=True)
class LastContact:
    """The end of the timeline: the last record in chain order and the last receipt."""

    last_record: RecordRef
    last_device_time: datetime
    last_received_at: datetime


TimelineEntry = LoopEpisode | EventEntry | GapEntry | BreakEntry | LastContact
"""One entry of the ordered timeline."""


class ChainStatus(StrEnum):
    """Overall verdict on the window's chain."""

    INTACT = "intact"
    """Every link verified, no gap, every record's ledger inclusion verified."""
    INCOMPLETE = "incomplete"
    """No break, but gaps, unlinked boots or unverified inclusion."""
    BROKEN = "broken"
    """At least one link, hash or genesis claim fails."""
    EMPTY = "empty"
    """No records in the window."""


@dataclass(frozen=True, slots=True)
class ChainVerification:
    """What the window's chain check found."""

    status: ChainStatus
    record_count: int
    verified_links: int
    breaks: tuple[BreakEntry, ...]
    gaps: tuple[GapEntry, ...]
    inclusion_unverified: tuple[RecordRef, ...]
    starts_at_genesis: bool
    boots: tuple[str, ...]
    """Boot ids in chain order."""


@dataclass(frozen=True, slots=True)
class Timeline:
    """A device's ordered, verified timeline for a window of stored records."""

    device: DeviceDescription
    window_start: datetime | None
    window_end: datetime | None
    records: tuple[TimelineRecord, ...]
    """Every record, in chain order (boot order, then seq)."""
    entries: tuple[TimelineEntry, ...]
    verification: ChainVerification
    unattached_findings: tuple[TimelineFinding, ...]
    """Findings whose evidence names no record of the window (or none at all)."""

    @property
    def last_contact(self) -> LastContact | None:
        """The closing marker, or None for an empty window."""
        last = self.entries[-1] if self.entries else None
        return last if isinstance(last, LastContact) else None
