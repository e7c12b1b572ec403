"""A ``medwarden serve`` app freezes its start-up heap and knows the active device
credentials when it starts; apps built for tests do neither."""

from __future__ import annotations

import gc
from pathlib import Path

from medwarden.api.app import create_app
from medwarden.config import Settings
from medwarden.core.clock import FixedClock
from medwarden.services.telemetry import register_device
from medwarden.store import open_store
from medwarden.telemetry.devices import DeviceRegistration, credential_digest
from tests.api.client import ApiClient
from tests.auth.conftest import T0


def _client(tmp_path: Path, *, serving: bool) -> ApiClient:
    db = str(tmp_path / "s.db")
    open_store(db).close()
    settings = Settings(db=db, db_source="option", ledger_key=str(tmp_path / "k.pem"))
    return ApiClient(create_app(settings, serving=serving))


def test_a_serving_app_freezes_its_start_up_heap(tmp_path: Path) -> None:
    gc.unfreeze()
    try:
        with _client(tmp_path, serving=False) as client:
            assert client.request("GET", "/api/v1/health").status_code == 200
            assert gc.get_freeze_count() == 0
        with _client(tmp_path, serving=True) as client:
            assert gc.get_freeze_count() > 10_000  # the app, its store, the libraries
            assert client.request("GET", "/api/v1/health").status_code == 200
    finally:
        gc.unfreeze()  # leave the test process as it was


def test_a_serving_app_starts_knowing_the_active_device_credentials(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    with open_store(db) as store:
        store.devices.set_model("pump-x", {}, at=T0, actor="test")
        issued = {
            n: register_device(
                store.devices,
                DeviceRegistration(f"pump-{n}", "pump-x", f"SN{n}", "1.0"),
                clock=FixedClock(T0),
                actor="test",
            )
            for n in range(3)
        }
        store.devices.retire("pump-2", at=T0, actor="test", reason="end of life")
    settings = Settings(db=db, db_source="option", ledger_key=str(tmp_path / "k.pem"))
    digests = {n: credential_digest(c.secret) for n, c in issued.items()}
    gc.unfreeze()
    try:
        for serving in (False, True):
            app = create_app(settings, serving=serving)
            with ApiClient(app):
                known = {n: app.state.device_credentials.get(d) for n, d in digests.items()}
            expected = {0: "pump-0", 1: "pump-1", 2: None} if serving else dict.fromkeys(digests)
            assert known == expected  # a retired device's credential is not primed
    finally:
        gc.unfreeze()
