"""Property-based API testing with schemathesis: generated requests never cause a 5xx.

Schemathesis reads the published OpenAPI document (``/api/v1/openapi.json``) of an app
over a seeded SQLite store and sends generated requests to every operation as the
admin (who may call everything), checking ``not_a_server_error``.  The examples per
operation are kept small so the whole run stays well under 30 seconds.

The schema is loaded when the module is imported (``schemathesis.pytest.from_fixture``
relies on a pytest internal that pytest 9 removed), so the store is a temporary
SQLite file made at import and removed at exit, after schemathesis has stopped the app.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from medwarden.api.app import create_app
from medwarden.config import Settings
from medwarden.core.clock import FixedClock
from tests.api.conftest import seed
from tests.auth.conftest import T0

_DIR = tempfile.mkdtemp(prefix="medwarden-schemathesis-")
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)  # runs after the app is stopped
_URL = str(Path(_DIR) / "api.db")
_CLOCK = FixedClock(T0)
_TOKENS, _ = seed(_URL, _CLOCK)
HEADERS = {"Authorization": f"Bearer {_TOKENS['admin']}"}

schema = schemathesis.openapi.from_asgi(
    "/api/v1/openapi.json", create_app(Settings(db=_URL, db_source="option"), clock=_CLOCK)
)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_generated_request_is_a_server_error(case: Any) -> None:
    """Whatever schemathesis sends (valid or not), the answer is never a 5xx."""
    case.call_and_validate(headers=HEADERS, checks=[not_a_server_error])
