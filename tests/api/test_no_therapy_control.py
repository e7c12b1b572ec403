"""medwarden is a monitor: no API route and no MQTT topic can change a device's therapy.

The routes are enumerated from the running app (so routers added later are covered):
every route that writes must be in the reviewed list below, none may be named after a
therapy setting, and the only route devices reach is the one that *receives* their
records.  On the MQTT side, the generated ACL lets the backend write nothing but
receipts, and the receipts it writes carry nothing but receipts.
"""

from __future__ import annotations

import re

from medwarden.api.deps import DEVICE_ROUTES, effective_routes
from medwarden.ingest.mosquitto import render_acl
from medwarden.ingest.wire import encode_receipts
from tests.api.conftest import Api

WRITES_REVIEWED = {
    # people administering medwarden itself
    ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/{name}"),
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{token_id}"),
    # the portfolio and triage (records about products, never sent to a device)
    ("POST", "/api/v1/products"),
    ("POST", "/api/v1/products/{slug}/releases"),
    ("PUT", "/api/v1/products/{slug}/releases/{version}/state"),
    ("POST", "/api/v1/products/{slug}/releases/{version}/sbom"),
    ("POST", "/api/v1/installed-base"),
    ("POST", "/api/v1/portfolio/reevaluate"),
    ("PUT", "/api/v1/products/{slug}/releases/{version}/components/support"),
    ("POST", "/api/v1/products/{slug}/releases/{version}/findings"),
    ("POST", "/api/v1/findings/{finding_id}/decisions"),
    ("POST", "/api/v1/policies"),
    ("POST", "/api/v1/decisions/{decision_id}/carry"),
    ("POST", "/api/v1/policies/{policy_id}/disable"),
    # the device registry: medwarden's own records of devices and their public keys
    ("POST", "/api/v1/devices"),
    ("POST", "/api/v1/devices/{device_id}/credential"),
    ("POST", "/api/v1/devices/{device_id}/keys"),
    ("POST", "/api/v1/devices/{device_id}/keys/rotate"),
    ("POST", "/api/v1/devices/{device_id}/keys/{key_id}/revoke"),
    # early warnings: acknowledging a warning is a note in medwarden
    ("POST", "/api/v1/warnings/{warning_id}/acknowledge"),
    # devices push their signed records in; nothing flows back but receipts
    ("POST", "/api/v1/telemetry/records"),
}
THERAPY_WORDS = re.compile(
    r"therap|basal|bolus|dose|dosing|insulin|setting|profile|setpoint|target|command|actuat|"
    r"pump|mode|suspend|resume|override",
    re.IGNORECASE,
)


def _writes(api: Api) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, methods, _route in effective_routes(api.app)
        for method in methods
        if method in {"POST", "PUT", "PATCH", "DELETE"}
    }


def test_every_write_route_is_reviewed_and_none_targets_therapy(api: Api) -> None:
    writes = _writes(api)
    unknown = writes - WRITES_REVIEWED
    assert not unknown, f"new write routes need a therapy-safety review: {sorted(unknown)}"
    for path, _methods, _route in effective_routes(api.app):
        assert not THERAPY_WORDS.search(path), path


def test_devices_reach_only_the_route_that_receives_their_records(api: Api) -> None:
    assert set(DEVICE_ROUTES) == {"/api/v1/telemetry/records"}
    document = api.call("GET", "/api/v1/openapi.json").json()
    receive = document["paths"]["/api/v1/telemetry/records"]
    assert set(receive) == {"post"}


def test_the_backend_may_write_only_receipts_on_mqtt() -> None:
    grants = [
        line.split() for line in render_acl().splitlines() if line.startswith(("topic", "pattern"))
    ]
    backend_writes = [g for g in grants if g[0] == "topic" and g[1] in {"write", "readwrite"}]
    assert backend_writes == [["topic", "write", "medwarden/v1/devices/+/receipts"]]
    device_reads = [g[-1] for g in grants if g[0] == "pattern" and g[1] in {"read", "readwrite"}]
    assert device_reads == ["medwarden/v1/devices/%u/receipts"]
    assert encode_receipts("b1", []) == b'{"batch_id":"b1","results":[]}'
