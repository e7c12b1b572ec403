"""Settings: built once by an entry point from options and the environment, then passed down.

This is the only module that reads environment variables.  The database location
is resolved as ``--db`` option > ``MEDWARDEN_DB`` > ``<user data dir>/medwarden.db``
and may be a file path or a SQLAlchemy URL (``sqlite:///...``,
``postgresql://...``).  A ``MEDWARDEN_*`` variable that medwarden does not know but
that is spelled close to one it does (``MEDWARDEN_BD``) is a :class:`ConfigError`
naming it, so a typo cannot silently select the default database.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from medwarden.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_UPLOAD_BYTES",
    "DEFAULT_TOKEN_MAX_DAYS",
    "KNOWN_VARIABLES",
    "Settings",
    "default_db_location",
    "load_settings",
    "read_secret",
    "settings_environment",
]

KNOWN_VARIABLES: frozenset[str] = frozenset(
    {
        "MEDWARDEN_DB",
        "MEDWARDEN_NVD_API_KEY",
        "MEDWARDEN_TEST_PG_URL",
        "MEDWARDEN_REGEN_GOLDEN",
        "MEDWARDEN_HYPOTHESIS_EXAMPLES",
        "MEDWARDEN_SMTP_PASSWORD",
        "MEDWARDEN_MAX_UPLOAD_BYTES",
        "MEDWARDEN_TOKEN_MAX_DAYS",
        "MEDWARDEN_LEDGER_KEY",
        "MEDWARDEN_MQTT_PASSWORD",
        "MEDWARDEN_OREF0_DIR",
    }
)
"""Every ``MEDWARDEN_*`` environment variable medwarden (or its test suite) reads."""

DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024
"""The largest request body the API accepts (``MEDWARDEN_MAX_UPLOAD_BYTES``): 50 MiB."""

DEFAULT_TOKEN_MAX_DAYS = 90
"""The longest lifetime an API token may be given (``MEDWARDEN_TOKEN_MAX_DAYS``)."""

_PREFIX = "MEDWARDEN_"
_DB_SYNONYMS = frozenset({"DATABASE", "DATABASE_URL", "DB_URL", "DB_PATH", "DBPATH"})


@dataclass(frozen=True, slots=True)
class Settings:
    """What an entry point resolved: where the store is and how to talk to people.

    ``db`` is a file path or a SQLAlchemy URL, as :func:`medwarden.store.db.open_store`
    accepts; ``db_source`` says where it came from (``option``, ``environment`` or
    ``default``); ``progress`` is whether progress bars may be drawn;
    ``max_upload_bytes`` is the API's request body limit and ``token_max_days`` the
    longest lifetime of an API token.
    """

    db: str
    db_source: str
    progress: bool = False
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    token_max_days: int = DEFAULT_TOKEN_MAX_DAYS
    ledger_key: str = ""
    """The server's Ed25519 key file for receipts and ledger checkpoints
    (``MEDWARDEN_LEDGER_KEY``; default ``ledger-ed25519.pem`` beside a file database, or
    in the user data directory); created on first use."""

    @property
    def ledger_key_path(self) -> Path:
        """Where the ledger key file is (:attr:`ledger_key`, or its default)."""
        return (
            Path(self.ledger_key).expanduser() if self.ledger_key else _default_ledger_key(self.db)
        )

    @property
    def db_is_url(self) -> bool:
        """Whether ``db`` is a URL rather than a file path."""
        return "://" in self.db


def default_db_location() -> Path:
    """Return ``<user data dir>/medwarden/medwarden.db`` (platformdirs)."""
    return Path(platformdirs.user_data_dir("medwarden", appauthor=False)) / "medwarden.db"


def load_settings(
    *,
    db: str | None = None,
    interactive: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build :class:`Settings` from entry-point options and the environment.

    ``interactive`` is whether the entry point talks to a terminal; progress bars are
    drawn only then, and never when ``CI`` is set.  Raises :class:`ConfigError` for a
    misspelt ``MEDWARDEN_*`` variable or an empty database location.
    """
    env = os.environ if environ is None else environ
    check_variables(env)
    if db is not None:
        location, source = db, "option"
    elif env.get("MEDWARDEN_DB"):
        location, source = env["MEDWARDEN_DB"], "environment"
    else:
        location, source = str(default_db_location()), "default"
    if not location.strip():
        raise ConfigError(
            "the database location is empty", hint="pass --db PATH_OR_URL or set MEDWARDEN_DB"
        )
    progress = interactive and not env.get("CI")
    ledger_key = env.get("MEDWARDEN_LEDGER_KEY", "").strip()
    return Settings(
        db=location.strip(),
        db_source=source,
        progress=progress,
        max_upload_bytes=_positive(env, "MEDWARDEN_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES),
        token_max_days=_positive(env, "MEDWARDEN_TOKEN_MAX_DAYS", DEFAULT_TOKEN_MAX_DAYS),
        ledger_key=ledger_key,
    )


def _default_ledger_key(db: str) -> Path:
    """``ledger-ed25519.pem`` beside a database file, else in the user data directory."""
    base = default_db_location().parent if "://" in db else Path(db).expanduser().parent
    return base / "ledger-ed25519.pem"


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    """The positive integer in variable ``name``, or ``default`` when it is unset or empty."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name} must be a positive integer, not {text!r}")
    return value


def settings_environment(settings: Settings) -> dict[str, str]:
    """The variables that make :func:`load_settings` rebuild ``settings`` in another process.

    ``medwarden serve --workers N`` sets them before uvicorn starts its worker processes,
    which build their settings (and so their app) from the environment."""
    env = {
        "MEDWARDEN_DB": settings.db,
        "MEDWARDEN_MAX_UPLOAD_BYTES": str(settings.max_upload_bytes),
        "MEDWARDEN_TOKEN_MAX_DAYS": str(settings.token_max_days),
    }
    if settings.ledger_key:
        env["MEDWARDEN_LEDGER_KEY"] = settings.ledger_key
    return env


def check_variables(environ: Mapping[str, str]) -> None:
    """Raise :class:`ConfigError` naming every ``MEDWARDEN_*`` variable that looks misspelt."""
    typos = [
        f"{name} (did you mean {suggestion}?)"
        for name in sorted(environ)
        if (suggestion := _suggestion(name.upper())) is not None
    ]
    if typos:
        raise ConfigError(
            "unknown MEDWARDEN_* environment variable" + ("s" if len(typos) > 1 else ""),
            details=tuple(typos),
            hint="known variables: " + ", ".join(sorted(KNOWN_VARIABLES)),
        )


def _suggestion(name: str) -> str | None:
    """Return the known variable ``name`` is probably a typo of, or ``None``."""
    if not name.startswith(_PREFIX) or name in KNOWN_VARIABLES:
        return None
    suffix = name.removeprefix(_PREFIX)
    if suffix in _DB_SYNONYMS:
        return "MEDWARDEN_DB"
    known = {k.removeprefix(_PREFIX): k for k in KNOWN_VARIABLES}
    for candidate, full in known.items():
        if sorted(candidate) == sorted(suffix):
            return full
    close = difflib.get_close_matches(suffix, known, n=1, cutoff=0.6)
    return known[close[0]] if close else None


def read_secret(variable: str, *, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the value of environment variable ``variable`` (an API key), or ``None``."""
    env = os.environ if environ is None else environ
    value = env.get(variable, "").strip()
    return value or None
