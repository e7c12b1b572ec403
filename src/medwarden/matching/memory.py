"""An in-memory :class:`~medwarden.matching.base.AdvisoryIndex` for tests and small scans.

It indexes advisories the way the store does: by (ecosystem family, canonical name)
of every ``affected[]`` package and by (vendor, product) of every configuration
criteria; withdrawn records are never returned.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from medwarden.core.cpe import CpeError, parse_cpe
from medwarden.core.ecosystems import normalize_name, split_ecosystem
from medwarden.intel.model import Advisory, EpssScore, KevEntry, Source
from medwarden.matching.aliases import AliasGroups

__all__ = ["InMemoryIndex"]

_SUMMARY_PREFERENCE = {Source.NVD: 0, Source.CVE5: 1, Source.OSV: 2, Source.CSAF: 3}


def _package_keys(advisory: Advisory) -> set[tuple[str, str]]:
    keys = set()
    for affected in advisory.affected:
        family, _release = split_ecosystem(affected.ecosystem)
        keys.add((family, normalize_name(family, affected.name)))
    return keys


def _cpe_keys(advisory: Advisory) -> set[tuple[str, str]]:
    keys = set()
    for config in advisory.configurations:
        for node in config.nodes:
            for match in node.matches:
                if not match.vulnerable:
                    continue  # platform conditions are checked against the SBOM, not indexed
                try:
                    keys.add(parse_cpe(match.criteria).key)
                except CpeError:
                    continue
    return keys


class InMemoryIndex:
    """Advisories, KEV entries and EPSS scores held in dictionaries."""

    def __init__(
        self,
        advisories: Iterable[Advisory] = (),
        kev: Iterable[KevEntry] = (),
        epss: Iterable[EpssScore] = (),
    ) -> None:
        self._by_package: dict[tuple[str, str], list[Advisory]] = defaultdict(list)
        self._by_cpe: dict[tuple[str, str], list[Advisory]] = defaultdict(list)
        self._by_id: dict[str, Advisory] = {}
        self._aliases = AliasGroups()
        for advisory in advisories:
            self._add(advisory)
        self._kev = {entry.cve_id: entry for entry in kev}
        self._epss: dict[str, EpssScore] = {}
        for score in epss:
            known = self._epss.get(score.cve_id)
            if known is None or _newer(score, known):
                self._epss[score.cve_id] = score

    def _add(self, advisory: Advisory) -> None:
        known = self._by_id.get(advisory.id)
        if known is None or _SUMMARY_PREFERENCE[advisory.source] < _SUMMARY_PREFERENCE.get(
            known.source, 9
        ):
            self._by_id[advisory.id] = advisory
        if advisory.is_withdrawn:
            return
        self._aliases.link((advisory.id, *advisory.aliases))
        for key in _package_keys(advisory):
            self._by_package[key].append(advisory)
        for key in _cpe_keys(advisory):
            self._by_cpe[key].append(advisory)

    def advisories_by_package(
        self, keys: Iterable[tuple[str, str]]
    ) -> Mapping[tuple[str, str], list[Advisory]]:
        """Return non-withdrawn advisories per (ecosystem family, canonical name) key."""
        return {k: list(self._by_package[k]) for k in set(keys) if k in self._by_package}

    def advisories_by_cpe(
        self, keys: Iterable[tuple[str, str]]
    ) -> Mapping[tuple[str, str], list[Advisory]]:
        """Return non-withdrawn advisories whose configurations name (vendor, product)."""
        return {k: list(self._by_cpe[k]) for k in set(keys) if k in self._by_cpe}

    def covered_ecosystems(self, families: Iterable[str]) -> frozenset[str]:
        """Return those of ``families`` some held advisory names a package of."""
        held = {family for family, _name in self._by_package}
        return frozenset(f for f in families if f in held)

    def alias_groups(self, ids: Iterable[str]) -> Mapping[str, frozenset[str]]:
        """Return, for each id, every id linked to it through aliases (itself included)."""
        return {i: self._aliases.members(i) for i in set(ids)}

    def kev_entries(self, cve_ids: Iterable[str]) -> Mapping[str, KevEntry]:
        """Return the KEV entries of those CVE ids that are in the catalog."""
        return {i: self._kev[i] for i in set(cve_ids) if i in self._kev}

    def epss_scores(self, cve_ids: Iterable[str]) -> Mapping[str, EpssScore]:
        """Return the latest EPSS score of each CVE id that has one."""
        return {i: self._epss[i] for i in set(cve_ids) if i in self._epss}

    def summaries(self, ids: Iterable[str]) -> Mapping[str, Advisory]:
        """Return the stored advisory of each id (NVD preferred over CVE 5 over OSV)."""
        held = (self._by_id.get(i) for i in set(ids))
        return {a.id: a for a in held if a is not None and not a.is_withdrawn}


def _newer(score: EpssScore, known: EpssScore) -> bool:
    if score.score_date is None or known.score_date is None:
        return known.score_date is None
    return score.score_date > known.score_date
