"""A ``medwarden serve`` app freezes its start-up heap; apps built for tests do not."""

from __future__ import annotations

import gc
from pathlib import Path

from medwarden.api.app import create_app
from medwarden.config import Settings
from medwarden.store import open_store
from tests.api.client import ApiClient


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
