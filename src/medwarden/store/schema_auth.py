"""The tables of authentication: users, API tokens, per-product permissions (migration 0005)."""

from __future__ import annotations

__all__: list[str] = []
