"""Tests of settings resolution and the one exit-code mapping."""

from __future__ import annotations

import pytest

from medwarden.cli.exit_codes import ExitCode, exit_code_for
from medwarden.config import default_db_location, load_settings, read_secret
from medwarden.errors import (
    ConfigError,
    MatchError,
    SbomParseError,
    StoreError,
    UsageError,
    VerificationError,
    VexError,
)


def test_db_option_beats_environment() -> None:
    """--db wins over MEDWARDEN_DB, which wins over the default location."""
    env = {"MEDWARDEN_DB": "/env/m.db"}
    assert load_settings(db="/opt/m.db", environ=env).db == "/opt/m.db"
    from_env = load_settings(environ=env)
    assert (from_env.db, from_env.db_source) == ("/env/m.db", "environment")
    default = load_settings(environ={})
    assert default.db == str(default_db_location())
    assert default.db_source == "default"


def test_url_is_accepted() -> None:
    """A SQLAlchemy URL is kept as given and recognised as a URL."""
    settings = load_settings(db="postgresql://u@h/db", environ={})
    assert settings.db_is_url


@pytest.mark.parametrize(
    "name", ["MEDWARDEN_BD", "MEDWARDEN_DBB", "MEDWARDEN_DATABASE", "MEDWARDEN_NVD_APIKEY"]
)
def test_misspelt_variable_is_config_error(name: str) -> None:
    """A MEDWARDEN_* variable that looks like a typo is a ConfigError naming it."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={name: "x"})
    assert name in caught.value.diagnostics()


def test_unrelated_variable_is_ignored() -> None:
    """A MEDWARDEN_* variable not resembling a known one is not an error."""
    assert load_settings(environ={"MEDWARDEN_FOO": "1"}).db_source == "default"


def test_empty_db_is_config_error() -> None:
    """An empty database location is refused."""
    with pytest.raises(ConfigError):
        load_settings(db="  ", environ={})


def test_progress_only_when_interactive_and_not_ci() -> None:
    """Progress bars are enabled only on a terminal outside CI."""
    assert load_settings(interactive=True, environ={}).progress
    assert not load_settings(interactive=True, environ={"CI": "true"}).progress
    assert not load_settings(interactive=False, environ={}).progress


def test_read_secret() -> None:
    """read_secret returns the named variable's value, or None when unset or blank."""
    assert read_secret("K", environ={"K": " abc "}) == "abc"
    assert read_secret("K", environ={"K": " "}) is None
    assert read_secret("K", environ={}) is None


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("x"), ExitCode.USAGE),
        (ConfigError("x"), ExitCode.USAGE),
        (SbomParseError("x"), ExitCode.USAGE),
        (VexError("x"), ExitCode.USAGE),
        (StoreError("x"), ExitCode.INTERNAL),
        (MatchError("x"), ExitCode.INTERNAL),
        (RuntimeError("x"), ExitCode.INTERNAL),
        (VerificationError("x"), ExitCode.INTEGRITY),
    ],
)
def test_exit_code_mapping(error: BaseException, code: ExitCode) -> None:
    """Usage, input and config errors map to 2; store, match and other errors to 3; integrity 4."""
    assert exit_code_for(error) == code
    assert (ExitCode.OK, ExitCode.FINDINGS, ExitCode.INTEGRITY) == (0, 1, 4)
