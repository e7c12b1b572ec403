"""Wiring of ``medwarden intel sync``: an HTTP client, the feed functions, the store.

The feed functions live in :mod:`medwarden.intel.fetch` (fetch and parse, no
storage); :func:`medwarden.services.intel_load.store_batches` writes what they yield
and moves each source's cursor.  A feed whose function is not available raises
:class:`~medwarden.errors.UsageError` ("sync source X not available").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from medwarden.cli.commands.intel import SyncSource, print_counts
from medwarden.cli.runtime import open_intel_store
from medwarden.config import Settings, read_secret
from medwarden.core.clock import SystemClock
from medwarden.core.timestamps import parse_timestamp
from medwarden.errors import UsageError

if TYPE_CHECKING:
    from medwarden.services.intel_load import SyncBatchLike
    from medwarden.services.ports import IntelStore

__all__ = ["available_sources", "run_sync"]

Feed = Callable[[Any, "IntelStore"], Iterator[tuple[str, Iterable["SyncBatchLike"]]]]


def available_sources() -> dict[SyncSource, Feed]:
    """Return the feeds this installation can sync (empty when ``intel.fetch`` is missing)."""
    try:
        from medwarden.intel import fetch
    except ImportError:
        return {}
    return _feeds(fetch)


def _feeds(fetch: Any) -> dict[SyncSource, Feed]:
    feeds: dict[SyncSource, Feed] = {}
    if hasattr(fetch, "sync_kev"):
        feeds[SyncSource.KEV] = lambda ctx, _store: iter([("kev", fetch.sync_kev(ctx.client))])
    if hasattr(fetch, "sync_epss"):
        feeds[SyncSource.EPSS] = lambda ctx, _store: iter([("epss", fetch.sync_epss(ctx.client))])
    if hasattr(fetch, "sync_nvd"):
        feeds[SyncSource.NVD] = lambda ctx, store: iter(
            [("nvd", fetch.sync_nvd(ctx.client, since=_nvd_since(store), api_key=ctx.api_key))]
        )
    if hasattr(fetch, "sync_osv"):
        feeds[SyncSource.OSV] = lambda ctx, store: (
            (f"osv:{eco}", fetch.sync_osv(ctx.client, eco, since=_cursor(store, f"osv:{eco}")))
            for eco in ctx.ecosystems
        )
    return feeds


class _Context:
    """What feeds need: an HTTP client, the NVD API key and the OSV ecosystems."""

    def __init__(self, client: Any, api_key: str | None, ecosystems: Sequence[str]) -> None:
        self.client = client
        self.api_key = api_key
        self.ecosystems = ecosystems


def _cursor(store: IntelStore, source: str) -> datetime | None:
    row = next((r for r in store.status() if r.source == source), None)
    return parse_timestamp(row.cursor) if row is not None and row.cursor else None


def _nvd_since(store: IntelStore) -> datetime:
    row = next((r for r in store.status() if r.source == "nvd"), None)
    since = _cursor(store, "nvd") or (row.newest_modified if row else None)
    if since is None:
        raise UsageError(
            "nvd sync needs a starting point and the store has no NVD records",
            hint="load an NVD mirror first: medwarden intel load PATH",
        )
    return since


def run_sync(
    settings: Settings,
    sources: Sequence[SyncSource],
    nvd_api_key_env: str,
    ecosystems: Sequence[str],
    *,
    feeds: dict[SyncSource, Feed] | None = None,
) -> None:
    """Sync ``sources`` into the store named by ``settings``; print counts per source."""
    available = available_sources() if feeds is None else feeds
    for source in sources:
        if source not in available:
            raise UsageError(
                f"sync source {source.value} not available",
                hint="load downloaded files with `medwarden intel load` instead",
            )
    if SyncSource.OSV in sources and not ecosystems:
        raise UsageError("osv sync needs --osv-ecosystem (for example PyPI, npm, Go)")
    import httpx

    from medwarden.services.intel_load import store_batches

    api_key = read_secret(nvd_api_key_env)
    with (
        httpx.Client(timeout=60.0, follow_redirects=True) as client,
        open_intel_store(settings, create=True) as store,
    ):
        context = _Context(client, api_key, ecosystems)
        for source in sources:
            for key, batches in available[source](context, store):
                report = store_batches(store, batches, clock=SystemClock(), cursor_key=key)
                print_counts(report, title=f"Synced {key}")
