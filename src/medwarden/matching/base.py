"""The port the matching engine reads intelligence through.

The store implements :class:`AdvisoryIndex` with one set-based query per call;
tests use :class:`medwarden.matching.memory.InMemoryIndex`.  Every method takes
*all* keys of a scan at once so that the number of queries does not grow with the
number of components.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from medwarden.intel.model import Advisory, EpssScore, KevEntry

__all__ = ["AdvisoryIndex"]


class AdvisoryIndex(Protocol):
    """Read access to mirrored intelligence, keyed the way matching needs it."""

    def advisories_by_package(
        self, keys: Iterable[tuple[str, str]]
    ) -> Mapping[tuple[str, str], list[Advisory]]:
        """Return non-withdrawn advisories per (ecosystem family, canonical name) key."""
        ...

    def advisories_by_cpe(
        self, keys: Iterable[tuple[str, str]]
    ) -> Mapping[tuple[str, str], list[Advisory]]:
        """Return non-withdrawn advisories whose configurations name (vendor, product)."""
        ...

    def covered_ecosystems(self, families: Iterable[str]) -> frozenset[str]:
        """Return those of ``families`` for which the mirror holds at least one advisory."""
        ...

    def alias_groups(self, ids: Iterable[str]) -> Mapping[str, frozenset[str]]:
        """Return, for each id, every id linked to it through aliases (itself included)."""
        ...

    def kev_entries(self, cve_ids: Iterable[str]) -> Mapping[str, KevEntry]:
        """Return the KEV entries of those CVE ids that are in the catalog."""
        ...

    def epss_scores(self, cve_ids: Iterable[str]) -> Mapping[str, EpssScore]:
        """Return the latest EPSS score of each CVE id that has one."""
        ...

    def summaries(self, ids: Iterable[str]) -> Mapping[str, Advisory]:
        """Return the stored advisory of each id (for severity and summary of alias-only ids)."""
        ...
