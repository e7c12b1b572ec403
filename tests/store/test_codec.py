"""Round trips of domain advisories through the payload codec and through the store."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings

from medwarden.errors import StoreError
from medwarden.intel.model import Advisory
from medwarden.store import SqlStore
from medwarden.store.codec import decode_advisory, encode_advisory
from tests.strategies_store import advisories


@given(advisories)
def test_codec_round_trip(adv: Advisory) -> None:
    """Decoding an encoded advisory gives back an equal advisory."""
    assert decode_advisory(encode_advisory(adv)) == adv


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(advisories)
def test_store_round_trip(store: SqlStore, adv: Advisory) -> None:
    """An advisory stored and read back by id is equal to the one stored."""
    stored = replace(adv, id=f"CVE-{uuid.uuid4().hex}", withdrawn=None)
    assert store.upsert_advisories([stored]).inserted == 1
    assert store.summaries([stored.id]) == {stored.id: stored}


def test_corrupt_payload_is_a_store_error() -> None:
    """A payload that is not the codec's JSON raises StoreError, not a bare decoding error."""
    with pytest.raises(StoreError, match="cannot be decoded"):
        decode_advisory(b'{"v": 1, "id": "x"}')
    with pytest.raises(StoreError, match="unknown version"):
        decode_advisory(b'{"v": 99}')
