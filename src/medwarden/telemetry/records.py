"""Device records: one signed line of a device's log (sensor reading, decision, command, ...).

A :class:`DeviceRecord` checks its content when built, so that every record can be
serialised to canonical bytes (see :mod:`medwarden.telemetry.envelope`) and hashed the
same way after reading it back: identifiers are short printable ASCII, ``seq`` is a
non-negative 64-bit integer, ``device_time`` is aware UTC (stored with microseconds),
``prev_hash`` is 64 lowercase hex digits (:data:`GENESIS` for the first record a device
ever makes) and ``body`` is a plain JSON object.  A ``controller_decision`` body must
carry the full input tuple: ``algorithm``, ``algorithm_version`` and an ``inputs`` object.

Malformed records raise :class:`~medwarden.errors.InputError` (MW100): they come from
devices, which are untrusted input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from medwarden.errors import InputError

__all__ = ["GENESIS", "DeviceRecord", "JsonObject", "RecordType"]

JsonObject = dict[str, Any]
"""A JSON object as Python values: str keys; str, int, float, bool, None, list, dict values."""

GENESIS = "0" * 64
"""``prev_hash`` of the very first record of a device (no predecessor)."""

_HEX64 = re.compile(r"[0-9a-f]{64}")
_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
_INT_RANGE = (-(2**63), 2**63 - 1)
_MAX_DEPTH = 32


class RecordType(StrEnum):
    """What a record reports."""

    SENSOR_READING = "sensor_reading"
    CONTROLLER_DECISION = "controller_decision"
    ACTUATOR_COMMAND = "actuator_command"
    ACTUATOR_CONFIRMATION = "actuator_confirmation"
    MODE_CHANGE = "mode_change"
    ALARM = "alarm"
    USER_OVERRIDE = "user_override"
    DEVICE_EVENT = "device_event"


def _ident(name: str, value: object) -> str:
    if not isinstance(value, str) or not _IDENT.fullmatch(value):
        raise InputError(
            f"device record {name} must be 1-128 printable ASCII characters "
            f"(letters, digits, . _ : @ -), not {value!r}"
        )
    return value


def plain_json(value: Any, path: str, depth: int = 0) -> Any:
    """Return ``value`` as plain JSON (tuples become lists), refusing what JSON cannot hold."""
    if depth > _MAX_DEPTH:
        raise InputError(f"device record field {path} is nested deeper than {_MAX_DEPTH}")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        _check_unicode(value, path)
        return value
    if isinstance(value, int):
        if not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            raise InputError(f"device record field {path} holds an integer beyond 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"device record field {path} holds a non-finite number")
        return value
    if isinstance(value, list | tuple):
        return [plain_json(item, f"{path}/{i}", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return _plain_object(value, path, depth)
    raise InputError(f"device record field {path} holds a {type(value).__name__}, not JSON")


def _plain_object(value: Mapping[Any, Any], path: str, depth: int = 0) -> JsonObject:
    out: JsonObject = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise InputError(f"device record field {path} has a non-text key {key!r}")
        _check_unicode(key, path)
        out[key] = plain_json(item, f"{path}/{key}", depth + 1)
    return out


def _check_unicode(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"device record field {path} holds invalid Unicode text") from None


def _utc(value: object) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InputError(f"device_time must be a timezone-aware datetime, not {value!r}")
    return value.astimezone(UTC)


def _check_body(record_type: RecordType, value: object) -> JsonObject:
    if not isinstance(value, Mapping):
        raise InputError(f"device record body must be a JSON object, not {type(value).__name__}")
    body = _plain_object(value, "body")
    if record_type is RecordType.CONTROLLER_DECISION:
        for key in ("algorithm", "algorithm_version"):
            text = body.get(key)
            if not isinstance(text, str) or not text.strip():
                raise InputError(
                    f"controller_decision body needs a non-empty text {key!r}",
                    hint="a decision must name the algorithm and version that made it",
                )
        if not isinstance(body.get("inputs"), dict):
            raise InputError(
                "controller_decision body needs an 'inputs' object",
                hint="log the full input tuple so the decision can be re-computed",
            )
    return body


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """One record of a device's chain, as the device signed it."""

    device_id: str
    boot_id: str
    seq: int
    device_time: datetime
    prev_hash: str
    record_type: RecordType
    body: JsonObject

    def __post_init__(self) -> None:
        _ident("device_id", self.device_id)
        _ident("boot_id", self.boot_id)
        if (
            isinstance(self.seq, bool)
            or not isinstance(self.seq, int)
            or not 0 <= self.seq <= _INT_RANGE[1]
        ):
            raise InputError(f"device record seq must be an integer >= 0, not {self.seq!r}")
        time = _utc(self.device_time)
        if time.year < 1970:
            raise InputError(f"device_time {time.isoformat()} is before 1970")
        object.__setattr__(self, "device_time", time)
        if not isinstance(self.prev_hash, str) or not _HEX64.fullmatch(self.prev_hash):
            raise InputError(
                f"device record prev_hash must be 64 lowercase hex digits, not {self.prev_hash!r}"
            )
        try:
            kind = RecordType(self.record_type)
        except ValueError:
            raise InputError(
                f"unknown record type {self.record_type!r}",
                hint="one of " + ", ".join(t.value for t in RecordType),
            ) from None
        object.__setattr__(self, "record_type", kind)
        object.__setattr__(self, "body", _check_body(kind, self.body))

    @property
    def is_genesis(self) -> bool:
        """True when the record claims to be the first of its device (no predecessor)."""
        return self.prev_hash == GENESIS
