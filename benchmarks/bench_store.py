"""Measure the store: bulk load rate and index lookup times (not collected by pytest).

Usage: python -m benchmarks.bench_store PATH_OR_URL [COUNT]   (from the repository root)
Builds COUNT synthetic OSV-like and NVD-like domain advisories, loads them in
batches of 5,000 into a fresh store, reloads them (all unchanged), and times the
AdvisoryIndex lookups a 1,000-component scan would make.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from tests.store.synthetic import synthetic_advisories

from medwarden.store import open_store

BATCH = 5000


def _timed(label: str, action: Callable[[], Any]) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    print(f"{label}: wall {time.perf_counter() - wall:.3f}s cpu {time.process_time() - cpu:.3f}s")
    return result


def main(location: str, count: int) -> None:
    """Load ``count`` advisories into the store at ``location`` and time lookups."""
    build_start = time.perf_counter()
    advisories = list(synthetic_advisories(count))
    build = time.perf_counter() - build_start
    with open_store(location) as store:
        start = time.perf_counter()
        for i in range(0, count, BATCH):
            store.upsert_advisories(advisories[i : i + BATCH])
        load = time.perf_counter() - start
        print(
            f"store only: {count / load:,.0f} records/s; build+store: {count / (build + load):,.0f}"
        )
        _timed(
            "reload (unchanged)",
            lambda: [
                store.upsert_advisories(advisories[i : i + BATCH]) for i in range(0, count, BATCH)
            ],
        )
        pkgs = [(eco, f"pkg-{j}") for j in range(400) for eco in ("npm", "PyPI", "Go")][:1000]
        cpes = [(f"vendor{j // 4}", f"product{j}") for j in range(400)]
        ids = [f"CVE-2024-{i:06d}" for i in range(0, 2000)]
        _timed("by_package 1000 keys (cold)", lambda: store.advisories_by_package(pkgs))
        _timed("by_package 1000 keys (cached)", lambda: store.advisories_by_package(pkgs))
        _timed("by_cpe 400 keys", lambda: store.advisories_by_cpe(cpes))
        _timed("alias_groups 2000 ids", lambda: store.alias_groups(ids))
        _timed("summaries 2000 ids", lambda: store.summaries(ids))
        _timed("kev+epss 2000 ids", lambda: (store.kev_entries(ids), store.epss_scores(ids)))
        _timed("status", store.status)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
