"""What every command needs from its surroundings: settings, consoles, the store, a clock."""

from __future__ import annotations

import getpass
import os
import sys
from typing import TYPE_CHECKING

from medwarden.config import Settings, load_settings

if TYPE_CHECKING:
    from rich.console import Console

    from medwarden.store.intel_repository import SqlStore

__all__ = ["actor_name", "err_console", "open_intel_store", "settings_for"]


def settings_for(db: str | None) -> Settings:
    """Build the settings of this invocation (``--db`` option, environment, defaults)."""
    return load_settings(db=db, interactive=sys.stderr.isatty())


def err_console() -> Console:
    """A Rich console on stderr (colour only on a terminal)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def open_intel_store(settings: Settings, *, create: bool) -> SqlStore:
    """Open the intelligence store the settings name (SQLAlchemy is imported only here)."""
    from medwarden.store.db import open_store

    return open_store(settings.db, create=create)


def actor_name(given: str | None) -> str:
    """Who runs this command, for the audit trail: ``--actor``, else the OS user name."""
    if given is not None and given.strip():
        return given.strip()
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return f"uid:{os.getuid()}"
