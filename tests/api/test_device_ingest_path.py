"""The device ingest fast path: credential changes, parity with the router, headers, and
which batches wait on the event loop."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medwarden.api.device_path import DeviceIngestPath
from medwarden.api.routers import telemetry as telemetry_route
from medwarden.services.telemetry import device_batch
from tests.api import test_devices_api
from tests.api.client import ApiClient
from tests.api.conftest import Api, assert_problem, start
from tests.api.test_devices_api import INGEST, _loop

Device = tuple[str, Ed25519PrivateKey]

device = test_devices_api.device
"""The registered device ``pump-a`` with an enrolled key: (credential, signing key)."""


def _layers(app: Any) -> Iterator[Any]:
    """The app's built middleware stack, outermost first."""
    layer = app.middleware_stack
    while layer is not None:
        yield layer
        layer = getattr(layer, "app", None)


def _fast_path_in(app: Any) -> bool:
    return any(isinstance(layer, DeviceIngestPath) for layer in _layers(app))


def _tree_size(api: Api) -> int:
    head = api.call("GET", "/api/v1/ledger/devices/pump-a/checkpoint", "reader")
    assert head.status_code == 200, head.text
    size: int = head.json()["tree_size"]
    return size


def test_a_replaced_credential_is_refused_although_it_was_cached(api: Api, device: Device) -> None:
    old, key = device
    items = _loop(key, 2)
    first = api.client.post(INGEST, token=old, json={"records": items[:4]})
    assert first.status_code == 200, first.text  # the credential is now cached
    assert _fast_path_in(api.app)
    replaced = api.call("POST", "/api/v1/devices/pump-a/credential", "admin")
    assert replaced.status_code == 200, replaced.text
    new = replaced.json()["credential"]
    assert new != old
    for _ in range(2):  # refused by the transaction, then (forgotten) by the registry
        refused = api.client.post(INGEST, token=old, json={"records": items[4:]})
        assert_problem(refused, 401, "MW501")
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert _tree_size(api) == 4
    accepted = api.client.post(INGEST, token=new, json={"records": items[4:]})
    assert accepted.status_code == 200, accepted.text
    assert [r["status"] for r in accepted.json()["results"]] == ["accepted"] * 4
    assert _tree_size(api) == 8


def test_the_fast_path_and_the_router_answer_alike(api: Api, device: Device) -> None:
    credential, key = device
    router_app, router_client = start(api.url, api.clock)
    router_app.user_middleware = [
        m for m in router_app.user_middleware if m.cls is not DeviceIngestPath
    ]
    items = _loop(key, 2)
    with router_client:
        fast, slow = api.client, router_client
        one = fast.post(INGEST, token=credential, json={"records": items[:4]})
        two = slow.post(INGEST, token=credential, json={"records": items[4:]})
        assert not _fast_path_in(router_app)  # the router answered
        assert _fast_path_in(api.app)
        for response in (one, two):
            assert response.status_code == 200, response.text
            assert [r["status"] for r in response.json()["results"]] == ["accepted"] * 4
        whole = {"records": items}
        again = [client.post(INGEST, token=credential, json=whole) for client in (fast, slow)]
        assert again[0].status_code == again[1].status_code == 200
        assert again[0].content == again[1].content  # byte-identical answers
        results = again[0].json()["results"]
        assert [r["status"] for r in results] == ["duplicate"] * 8
        first = [r["receipt"] for r in one.json()["results"] + two.json()["results"]]
        assert [r["receipt"] for r in results] == first
        refusals: list[tuple[str | None, dict[str, Any], int, str]] = [
            (credential, {"content": b"{nope"}, 422, "MW100"),
            (credential, {"json": {"records": []}}, 400, "MW001"),
            (api.tokens["admin"], {"json": whole}, 401, "MW501"),
            (None, {"json": whole}, 401, "MW501"),
        ]
        for token, body, status, code in refusals:
            answers = [client.post(INGEST, token=token, **body) for client in (fast, slow)]
            problems = [assert_problem(a, status, code) for a in answers]
            assert problems[0] == problems[1]
            assert answers[0].headers.get("WWW-Authenticate") == answers[1].headers.get(
                "WWW-Authenticate"
            )
    assert _tree_size(api) == 8


def _security_headers(response: httpx.Response) -> None:
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_fast_path_answers_carry_security_headers(api: Api, device: Device) -> None:
    credential, key = device
    accepted = api.client.post(INGEST, token=credential, json={"records": _loop(key, 1)})
    assert accepted.status_code == 200, accepted.text
    refused = api.client.post(INGEST, token="mwd_nobody", json={"records": _loop(key, 1)})
    assert_problem(refused, 401, "MW501")
    malformed = api.client.post(INGEST, token=credential, content=b"[")
    assert_problem(malformed, 422, "MW100")
    for response in (accepted, refused, malformed):
        _security_headers(response)


@pytest.mark.parametrize("chunked", [False, True], ids=["announced", "streamed"])
def test_a_body_over_the_upload_limit_is_413(api: Api, device: Device, chunked: bool) -> None:
    credential, key = device
    app, client = start(api.url, api.clock, max_upload_bytes=2048)
    body = httpx.Request("POST", "/", json={"records": _loop(key, 3)}).content
    assert len(body) > 2048

    async def stream() -> AsyncIterator[bytes]:
        for at in range(0, len(body), 512):
            yield body[at : at + 512]

    content: Any = stream() if chunked else body
    with client:
        too_big = _post(client, credential, content)
        assert _fast_path_in(app)
        assert_problem(too_big, 413, "MW101")
        _security_headers(too_big)
    assert _tree_size(api) == 0


def _post(client: ApiClient, token: str, content: Any) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    return client.post(INGEST, token=token, content=content, headers=headers)


def test_small_batches_of_known_devices_wait_on_the_loop_and_the_rest_in_a_thread(
    api: Api, device: Device, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential, key = device
    paths: list[str] = []  # where each request's batch was parsed

    def spy(*args: Any, **kwargs: Any) -> Any:
        in_pool = threading.current_thread().name.startswith("medwarden-ingest")
        paths.append("thread" if in_pool else "loop")
        return device_batch(*args, **kwargs)

    monkeypatch.setattr("medwarden.api.routers.telemetry.device_batch", spy)
    items = _loop(key, 3)

    def post(records: list[dict[str, Any]]) -> httpx.Response:
        response = api.client.post(INGEST, token=credential, json={"records": records})
        assert response.status_code == 200, response.text
        return response

    first = post(items[:4])  # the credential is not cached yet: read in the thread
    small = post(items[4:8])  # cached, small: on the loop
    assert paths == ["thread", "loop"]
    monkeypatch.setattr(telemetry_route, "LOOP_BODY", 0)  # every body is now "large"
    large = post(items[8:])
    again_in_thread = post(items[:8])
    monkeypatch.setattr(telemetry_route, "LOOP_BODY", 16 * 1024)
    again_on_loop = post(items[:8])
    assert paths[2:] == ["thread", "thread", "loop"]
    for response in (first, small, large):
        assert [r["status"] for r in response.json()["results"]] == ["accepted"] * 4
    assert again_in_thread.content == again_on_loop.content  # byte-identical answers
    receipts = [r["receipt"] for r in first.json()["results"] + small.json()["results"]]
    assert [r["receipt"] for r in again_on_loop.json()["results"]] == receipts
    assert _tree_size(api) == 12
