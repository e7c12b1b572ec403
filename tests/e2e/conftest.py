"""End-to-end tests run on every backend."""

from tests.store.conftest import store_url  # noqa: F401 - every backend
