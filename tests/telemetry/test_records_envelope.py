"""Device records, canonical bytes, Ed25519 signatures and the wire form."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from medwarden.errors import InputError, InputTooLargeError, SignatureError, VerificationError
from medwarden.telemetry.envelope import (
    DOMAIN_PREFIX,
    MAX_ENVELOPE_BYTES,
    SignedRecord,
    canonical_bytes,
    parse_envelope,
    record_from_json,
    record_hash,
    record_to_json,
    sign_record,
    verify_envelope,
)
from medwarden.telemetry.records import GENESIS, DeviceRecord, RecordType
from tests.telemetry.builders import T0, make_record

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))

DECISION_BODY = {
    "algorithm": "oref0-determine-basal",
    "algorithm_version": "0.7.1",
    "inputs": {"glucose": [120, 118], "iob": 1.25, "profile": {"max_basal": 3}},
    "output": {"rate": 0.8, "duration": 30},
}


# -- records -------------------------------------------------------------------------------


def test_record_normalises_time_to_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    rec = make_record(at=datetime(2026, 1, 1, 14, 0, tzinfo=plus2))
    assert rec.device_time == T0
    assert rec.device_time.tzinfo == UTC
    assert rec.is_genesis


@pytest.mark.parametrize(
    "changes",
    [
        {"device_id": ""},
        {"device_id": "dev 1"},
        {"boot_id": "x" * 129},
        {"seq": -1},
        {"seq": True},
        {"seq": 1.0},
        {"seq": 2**63},
        {"device_time": datetime(2026, 1, 1)},  # noqa: DTZ001 - naive on purpose
        {"prev_hash": "A" * 64},
        {"prev_hash": "0" * 63},
        {"record_type": "teleport"},
        {"body": []},
        {"body": {"x": float("nan")}},
        {"body": {"x": 2**64}},
        {"body": {"x": object()}},
        {"body": {"x": "\ud800"}},
        {"body": {1: "x"}},
    ],
)
def test_record_refuses_bad_fields(changes: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        "device_id": "dev-1",
        "boot_id": "b",
        "seq": 0,
        "device_time": T0,
        "prev_hash": GENESIS,
        "record_type": RecordType.ALARM,
        "body": {},
    }
    fields.update(changes)
    with pytest.raises(InputError):
        DeviceRecord(**fields)


@pytest.mark.parametrize("missing", ["algorithm", "algorithm_version", "inputs"])
def test_controller_decision_needs_full_input_tuple(missing: str) -> None:
    body = {k: v for k, v in DECISION_BODY.items() if k != missing}
    with pytest.raises(InputError, match=missing):
        make_record(record_type=RecordType.CONTROLLER_DECISION, body=body)
    ok = make_record(record_type=RecordType.CONTROLLER_DECISION, body=DECISION_BODY)
    assert ok.body["inputs"]["iob"] == 1.25


def test_controller_decision_inputs_must_be_an_object() -> None:
    with pytest.raises(InputError, match="inputs"):
        make_record(
            record_type=RecordType.CONTROLLER_DECISION,
            body={**DECISION_BODY, "inputs": [1, 2]},
        )


def test_body_tuples_become_lists() -> None:
    assert make_record(body={"v": (1, 2)}).body == {"v": [1, 2]}


# -- canonical bytes and signatures --------------------------------------------------------


def test_canonical_bytes_are_documented_format() -> None:
    rec = make_record(seq=3, body={"b": 1, "a": "x"})
    data = canonical_bytes(rec)
    assert data.startswith(DOMAIN_PREFIX)
    assert data[len(DOMAIN_PREFIX) :] == (
        b'{"body":{"a":"x","b":1},"boot_id":"boot-1","device_id":"dev-1",'
        b'"device_time":"2026-01-01T12:15:00.000000Z","prev_hash":"' + GENESIS.encode() + b'",'
        b'"record_type":"sensor_reading","seq":3}'
    )
    assert len(record_hash(rec)) == 64


def test_sign_verify_round_trip_through_wire() -> None:
    rec = make_record(record_type=RecordType.CONTROLLER_DECISION, body=DECISION_BODY)
    signed = sign_record(KEY, rec)
    verify_envelope(KEY.public_key(), signed)
    back = parse_envelope(signed.to_wire())
    assert back == signed
    assert back.hash == record_hash(rec)
    verify_envelope(KEY.public_key(), back)
    verify_envelope(KEY.public_key(), parse_envelope(signed.to_wire().decode()))
    verify_envelope(KEY.public_key(), parse_envelope(signed.to_json()))


def test_wrong_key_fails() -> None:
    signed = sign_record(KEY, make_record())
    with pytest.raises(SignatureError) as info:
        verify_envelope(OTHER_KEY.public_key(), signed)
    assert isinstance(info.value, VerificationError)
    assert info.value.code == "MW401"


def test_revoked_key_is_the_callers_business() -> None:
    """A revoked key still verifies mathematically; the caller must not pass it."""
    signed = sign_record(KEY, make_record())
    revoked = {KEY.public_key().public_bytes_raw()}
    trusted = [k for k in [KEY.public_key()] if k.public_bytes_raw() not in revoked]
    assert trusted == []
    verify_envelope(KEY.public_key(), signed)  # the check itself is key-agnostic


def test_tampered_field_fails() -> None:
    signed = sign_record(KEY, make_record(body={"dose_u": 1.0}))
    forged = dataclasses.replace(signed, record=make_record(body={"dose_u": 10.0}))
    with pytest.raises(SignatureError):
        verify_envelope(KEY.public_key(), forged)


def test_tampered_signature_byte_fails() -> None:
    signed = sign_record(KEY, make_record())
    for i in (0, 31, 63):
        sig = bytearray(signed.signature)
        sig[i] ^= 0x01
        with pytest.raises(SignatureError):
            verify_envelope(KEY.public_key(), SignedRecord(signed.record, bytes(sig)))


def test_tampered_wire_byte_fails_or_is_refused() -> None:
    wire = sign_record(KEY, make_record(body={"glucose": 123})).to_wire()
    for i in range(len(wire)):
        mutated = bytearray(wire)
        mutated[i] ^= 0x04
        try:
            parsed = parse_envelope(bytes(mutated))
        except InputError:
            continue
        with pytest.raises(SignatureError):
            verify_envelope(KEY.public_key(), parsed)


# -- strict wire parsing -------------------------------------------------------------------


def _wire() -> dict[str, Any]:
    return sign_record(KEY, make_record()).to_json()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda w: w.pop("sig"),
        lambda w: w.update(extra=1),
        lambda w: w.update(v=2),
        lambda w: w.update(v=True),
        lambda w: w.update(alg="RS256"),
        lambda w: w.update(sig=123),
        lambda w: w.update(sig="!!!"),
        lambda w: w.update(sig="AAAA"),
        lambda w: w.update(sig=w["sig"] + "="),
        lambda w: w.update(record=[]),
        lambda w: w["record"].pop("seq"),
        lambda w: w["record"].update(colour="red"),
        lambda w: w["record"].update(seq="1"),
        lambda w: w["record"].update(device_time="2026-01-01T12:00:00Z"),
        lambda w: w["record"].update(device_time="2026-02-30T12:00:00.000000Z"),
        lambda w: w["record"].update(device_time=0),
        lambda w: w["record"].update(record_type="x"),
        lambda w: w["record"].update(record_type=None),
        lambda w: w["record"].update(body="x"),
    ],
)
def test_malformed_envelopes_are_input_errors(mutate: Any) -> None:
    wire = _wire()
    mutate(wire)
    with pytest.raises(InputError):
        parse_envelope(orjson.dumps(wire))


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b"null", b"\xff\xfe", "{}", b'{"v":1}'])
def test_garbage_is_an_input_error(data: bytes | str) -> None:
    with pytest.raises(InputError):
        parse_envelope(data)


def test_oversized_envelope_refused_unread() -> None:
    with pytest.raises(InputTooLargeError):
        parse_envelope(b" " * (MAX_ENVELOPE_BYTES + 1))


def test_record_json_round_trip() -> None:
    rec = make_record(record_type=RecordType.CONTROLLER_DECISION, body=DECISION_BODY)
    assert record_from_json(orjson.loads(orjson.dumps(record_to_json(rec)))) == rec


# -- properties ----------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=10)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
bodies = st.dictionaries(st.text(max_size=8), json_values, max_size=5)
idents = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,20}", fullmatch=True)
records = st.builds(
    DeviceRecord,
    device_id=idents,
    boot_id=idents,
    seq=st.integers(0, 2**63 - 1),
    device_time=st.datetimes(
        min_value=datetime(1970, 1, 2),  # noqa: DTZ001
        max_value=datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    prev_hash=st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    record_type=st.sampled_from([t for t in RecordType if t is not RecordType.CONTROLLER_DECISION]),
    body=bodies,
)


def _mutations(rec: DeviceRecord) -> list[DeviceRecord]:
    return [
        dataclasses.replace(rec, device_id=rec.device_id + "x"),
        dataclasses.replace(rec, boot_id=rec.boot_id + "x"),
        dataclasses.replace(rec, seq=rec.seq + 1 if rec.seq < 2**63 - 1 else rec.seq - 1),
        dataclasses.replace(rec, device_time=rec.device_time + timedelta(microseconds=1)),
        dataclasses.replace(
            rec, prev_hash=("1" if rec.prev_hash[0] != "1" else "2") + rec.prev_hash[1:]
        ),
        dataclasses.replace(
            rec,
            record_type=RecordType.ALARM
            if rec.record_type is not RecordType.ALARM
            else RecordType.MODE_CHANGE,
        ),
        dataclasses.replace(rec, body={**rec.body, "\x00mutation": 1}),
    ]


@settings(max_examples=60, deadline=None)
@given(records)
def test_any_single_field_mutation_breaks_the_signature(rec: DeviceRecord) -> None:
    signed = sign_record(KEY, rec)
    verify_envelope(KEY.public_key(), parse_envelope(signed.to_wire()))
    for other in _mutations(rec):
        assert canonical_bytes(other) != canonical_bytes(rec)
        with pytest.raises(SignatureError):
            verify_envelope(KEY.public_key(), SignedRecord(other, signed.signature))


@settings(max_examples=60, deadline=None)
@given(records, st.randoms(use_true_random=False))
def test_canonical_bytes_ignore_key_order(rec: DeviceRecord, rnd: Any) -> None:
    def shuffled(value: Any) -> Any:
        if isinstance(value, dict):
            items = list(value.items())
            rnd.shuffle(items)
            return {k: shuffled(v) for k, v in items}
        if isinstance(value, list):
            return [shuffled(v) for v in value]
        return value

    other = dataclasses.replace(rec, body=shuffled(rec.body))
    assert canonical_bytes(other) == canonical_bytes(rec)
    assert record_hash(other) == record_hash(rec)
    wire = record_to_json(rec)
    assert record_from_json(shuffled(wire)) == rec
