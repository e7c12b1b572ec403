"""The local store of the vulnerability-intelligence mirror: the only place SQLAlchemy lives.

Use :func:`open_store` with a file path (SQLite) or a SQLAlchemy URL (SQLite or
PostgreSQL); it returns a :class:`SqlStore`, which implements
:class:`~medwarden.services.ports.IntelStore` and
:class:`~medwarden.matching.base.AdvisoryIndex`.
"""

from __future__ import annotations

from medwarden.store.db import default_db_path, open_store, upgrade_store
from medwarden.store.intel_repository import SqlStore

__all__ = ["SqlStore", "default_db_path", "open_store", "upgrade_store"]
