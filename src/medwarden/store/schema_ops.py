"""The tables of operations: monitoring runs, alerts, notifications, jobs (migration 0006)."""

from __future__ import annotations

__all__: list[str] = []
