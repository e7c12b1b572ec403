"""The ``medwarden-timeline-v1`` JSON export: documented shape, stable bytes."""

from __future__ import annotations

import base64

import orjson

from medwarden.telemetry.records import RecordType
from medwarden.telemetry.timeline import (
    TIMELINE_FORMAT,
    FindingSeverity,
    TimelineFinding,
    build_timeline,
    timeline_to_json,
    timeline_to_json_bytes,
)
from tests.telemetry.timeline.chains import Chain, description


def _timeline(*, reverse: bool = False):
    chain = Chain()
    chain.loop(0)
    chain.reading()
    chain.command("c-1", chain.decision(rate=0.5))
    chain.reading(store=False)
    chain.event(RecordType.ALARM, {"code": "LOW", "severity": "high"})
    chain.reading(prev_hash="cd" * 32)
    finding = TimelineFinding("safety.low", FindingSeverity.HIGH, "low", (chain.stored[-2].ref,))
    stored = list(reversed(chain.stored)) if reverse else chain.stored
    return chain, build_timeline(stored, description(), [finding])


def test_top_level_shape() -> None:
    _, timeline = _timeline()
    doc = timeline_to_json(timeline)
    assert set(doc) == {
        "format",
        "device",
        "window",
        "verification",
        "entries",
        "unattached_findings",
    }
    assert doc["format"] == TIMELINE_FORMAT
    assert doc["device"]["controller"] == {
        "algorithm": "oref0-determine-basal",
        "version": "0.7.1",
    }
    assert doc["device"]["patient_ref"] == "pt-5f3a9c"
    assert doc["window"] == {"start": None, "end": None}
    v = doc["verification"]
    assert v["status"] == "broken"
    assert [g["first_seq"] for g in v["gaps"]] == [7]
    assert [b["break"] for b in v["breaks"]] == ["prev_hash_mismatch"]


def test_entry_kinds_in_order_with_missing_links_and_findings() -> None:
    chain, timeline = _timeline()
    entries = timeline_to_json(timeline)["entries"]
    assert [e["kind"] for e in entries] == [
        "episode",
        "episode",
        "gap",
        "event",
        "break",
        "episode",
        "last_contact",
    ]
    full, open_loop = entries[0], entries[1]
    assert full["missing"] == []
    assert full["reading"]["body"]["glucose_mg_dl"] == 120
    assert full["commands"][0]["confirmations"][0]["record_type"] == "actuator_confirmation"
    assert [m["link"] for m in open_loop["missing"]] == ["confirmation"]
    gap = entries[2]
    assert (gap["first_seq"], gap["last_seq"]) == (7, 7)
    event = entries[3]
    assert event["findings"][0]["check_id"] == "safety.low"
    assert event["findings"][0]["evidence"] == [
        {"boot_id": "boot-a", "seq": 8, "record_hash": chain.stored[-2].record_hash}
    ]
    last = entries[-1]
    assert last["last_record"]["seq"] == 9
    assert last["last_received_at"].endswith("Z")


def test_records_carry_provenance_fields_and_the_signature() -> None:
    chain, timeline = _timeline()
    record = timeline_to_json(timeline)["entries"][0]["reading"]
    first = chain.stored[0]
    assert record == {
        "boot_id": "boot-a",
        "seq": 0,
        "record_hash": first.record_hash,
        "record_type": "sensor_reading",
        "device_time": "2026-01-01T12:01:00.000000Z",
        "received_at": "2026-01-01T12:01:03.000000Z",
        "ledger_index": 0,
        "inclusion_verified": True,
        "prev_hash": "0" * 64,
        "body": {"glucose_mg_dl": 120, "sensor_id": "cgm-1", "quality": "ok"},
        "signature": base64.urlsafe_b64encode(first.signature or b"").rstrip(b"=").decode(),
    }


def test_bytes_are_identical_across_exports_and_input_orders() -> None:
    _, timeline = _timeline()
    first = timeline_to_json_bytes(timeline)
    assert first == timeline_to_json_bytes(timeline)
    assert timeline_to_json_bytes(_timeline()[1]) == first
    assert timeline_to_json_bytes(_timeline(reverse=True)[1]) == first
    assert orjson.loads(first) == timeline_to_json(timeline)
