"""Fixtures for job tests: stores on both backends."""

from __future__ import annotations

from tests.store.conftest import store, store_url  # noqa: F401 - every backend
