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
from medwarden.cli.runtime import actor_name, open_intel_store
from medwarden.config import Settings, read_secret
from medwarden.core.clock import SystemClock
from medwarden.core.timestamps import parse_timestamp
from medwarden.errors import UsageError

if TYPE_CHECKING:
    from medwarden.intel.fetch import SourceEndpoints
    from medwarden.services.intel_load import SyncBatchLike
    from medwarden.services.ports import IntelStore

__all__ = ["FEEDS", "run_sync"]

Feed = Callable[[Any, "IntelStore"], Iterator[tuple[str, Iterable["SyncBatchLike"]]]]


def _kev(ctx: _Context, _store: IntelStore) -> Iterator[tuple[str, Iterable[SyncBatchLike]]]:
    from medwarden.intel.fetch import sync_kev

    yield "kev", sync_kev(ctx.client, endpoints=ctx.endpoints)


def _epss(ctx: _Context, _store: IntelStore) -> Iterator[tuple[str, Iterable[SyncBatchLike]]]:
    from medwarden.intel.fetch import sync_epss

    yield "epss", sync_epss(ctx.client, endpoints=ctx.endpoints)


def _nvd(ctx: _Context, store: IntelStore) -> Iterator[tuple[str, Iterable[SyncBatchLike]]]:
    from medwarden.intel.fetch import sync_nvd

    since = _nvd_since(store)
    yield "nvd", sync_nvd(ctx.client, since=since, api_key=ctx.api_key, endpoints=ctx.endpoints)


def _osv(ctx: _Context, store: IntelStore) -> Iterator[tuple[str, Iterable[SyncBatchLike]]]:
    from medwarden.intel.fetch import sync_osv

    for eco in ctx.ecosystems:
        since = _cursor(store, f"osv:{eco}")
        yield f"osv:{eco}", sync_osv(ctx.client, eco, since=since, endpoints=ctx.endpoints)


FEEDS: dict[SyncSource, Feed] = {
    SyncSource.NVD: _nvd,
    SyncSource.OSV: _osv,
    SyncSource.KEV: _kev,
    SyncSource.EPSS: _epss,
}
"""Every feed ``intel sync`` can fetch, by source."""


class _Context:
    """What feeds need: an HTTP client, the feed URLs, the NVD API key, the OSV ecosystems."""

    def __init__(
        self,
        client: Any,
        endpoints: SourceEndpoints,
        api_key: str | None,
        ecosystems: Sequence[str],
    ) -> None:
        self.client = client
        self.endpoints = endpoints
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
    endpoints: SourceEndpoints | None = None,
    feeds: dict[SyncSource, Feed] | None = None,
    actor: str | None = None,
    reevaluate: bool = True,
) -> None:
    """Sync ``sources`` into the store named by ``settings``; print counts per source.

    ``endpoints`` points the feeds at other URLs (an internal mirror in an isolated
    network, or a test's replay server).  Each feed's sync is recorded in the audit
    trail as ``intel.sync`` by ``actor`` (default: the OS user name).  Afterwards the
    portfolio is re-evaluated against what changed, unless ``reevaluate`` is false."""
    available = FEEDS if feeds is None else feeds
    for source in sources:
        if source not in available:
            raise UsageError(
                f"sync source {source.value} not available",
                hint="load downloaded files with `medwarden intel load` instead",
            )
    if SyncSource.OSV in sources and not ecosystems:
        raise UsageError("osv sync needs --osv-ecosystem (for example PyPI, npm, Go)")
    import httpx

    from medwarden.intel.fetch import SourceEndpoints
    from medwarden.services.intel_load import store_batches

    api_key = read_secret(nvd_api_key_env)
    who = actor_name(actor)
    with (
        httpx.Client(timeout=60.0, follow_redirects=True) as client,
        open_intel_store(settings, create=True) as store,
    ):
        context = _Context(client, endpoints or SourceEndpoints(), api_key, ecosystems)
        for source in sources:
            for key, batches in available[source](context, store):
                report = store_batches(
                    store,
                    batches,
                    clock=SystemClock(),
                    cursor_key=key,
                    audit=store.audit,
                    actor=who,
                )
                print_counts(report, title=f"Synced {key}")
        if reevaluate:
            from medwarden.cli.commands.portfolio import reevaluate_after

            reevaluate_after(store, who)
