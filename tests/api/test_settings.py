"""API settings: the body limit and token lifetime from the environment, and the worker factory."""

from __future__ import annotations

from pathlib import Path

import pytest

from medwarden.api.app import create_app_from_environment
from medwarden.config import (
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_TOKEN_MAX_DAYS,
    load_settings,
    settings_environment,
)
from medwarden.errors import ConfigError
from medwarden.store import open_store
from tests.api.client import ApiClient


def test_defaults() -> None:
    """50 MiB of body and 90-day tokens unless configured."""
    settings = load_settings(environ={})
    assert settings.max_upload_bytes == DEFAULT_MAX_UPLOAD_BYTES == 50 * 1024 * 1024
    assert settings.token_max_days == DEFAULT_TOKEN_MAX_DAYS == 90


def test_from_the_environment_and_back() -> None:
    """The variables are read, and settings_environment reproduces the settings elsewhere."""
    env = {
        "MEDWARDEN_DB": "/x/m.db",
        "MEDWARDEN_MAX_UPLOAD_BYTES": "1024",
        "MEDWARDEN_TOKEN_MAX_DAYS": " 7 ",
    }
    settings = load_settings(environ=env)
    assert (settings.max_upload_bytes, settings.token_max_days) == (1024, 7)
    again = load_settings(environ=settings_environment(settings))
    assert again == settings


@pytest.mark.parametrize("value", ["0", "-5", "ten", "1.5"])
def test_bad_values_are_config_errors(value: str) -> None:
    """Not a positive integer: ConfigError naming the variable."""
    with pytest.raises(ConfigError, match="MEDWARDEN_TOKEN_MAX_DAYS must be a positive integer"):
        load_settings(environ={"MEDWARDEN_TOKEN_MAX_DAYS": value})


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("MEDWARDEN_MAX_UPLOAD", "MEDWARDEN_MAX_UPLOAD_BYTES"),
        ("MEDWARDEN_TOKEN_MAX_DAY", "MEDWARDEN_TOKEN_MAX_DAYS"),
    ],
)
def test_typos_are_named(typo: str, meant: str) -> None:
    """A misspelt new variable is caught like the others."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={typo: "1"})
    assert f"{typo} (did you mean {meant}?)" in caught.value.details


def test_the_worker_factory_reads_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ``serve --workers N`` process builds its app from the environment alone."""
    db = str(tmp_path / "m.db")
    open_store(db).close()
    monkeypatch.setenv("MEDWARDEN_DB", db)
    monkeypatch.setenv("MEDWARDEN_MAX_UPLOAD_BYTES", "10")
    app = create_app_from_environment()
    assert app.state.settings.db == db
    with ApiClient(app) as client:
        assert client.get("/api/v1/health").json() == {"status": "ok"}
        assert client.post("/api/v1/tokens", content=b"x" * 11).status_code == 413
