"""Pausing Python's cyclic garbage collector around bulk object creation.

Decoding thousands of payloads (or building thousands of rows) allocates enough
container objects to trigger many collections, each of which walks the growing
set of live objects (the decoded-advisory cache included).  Measured on 100,000
records: lookups that decode 18,000 advisories take half the CPU and bulk loads
18 % less with the collector paused.  Nothing created here forms reference cycles,
so no garbage is left for later.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused_gc"]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector for the block if it was enabled, then re-enable it."""
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
