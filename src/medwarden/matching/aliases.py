"""Alias groups: the ids (CVE, GHSA, GO-, distro ids) that name one vulnerability.

Links are symmetric and transitive: if GO-z lists CVE-y and GHSA-x lists CVE-y, the
three are one group, whichever record lists which.  A union-find keeps this linear.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["AliasGroups", "preferred_id"]


class AliasGroups:
    """A union-find over vulnerability ids."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}
        self._members: dict[str, set[str]] = {}

    def _find(self, item: str) -> str:
        parent = self._parent.setdefault(item, item)
        if parent == item:
            self._members.setdefault(item, {item})
            return item
        root = self._find(parent)
        self._parent[item] = root
        return root

    def link(self, ids: Iterable[str]) -> None:
        """Declare every id of ``ids`` one vulnerability."""
        first: str | None = None
        for item in ids:
            root = self._find(item)
            if first is None:
                first = root
            elif root != first:
                small, big = sorted((root, first), key=lambda r: len(self._members[r]))
                self._parent[small] = big
                self._members[big] |= self._members.pop(small)
                first = big

    def root(self, item: str) -> str:
        """A representative of the group of ``item`` (stable until the next link)."""
        return self._find(item)

    def members(self, item: str) -> frozenset[str]:
        """Every id in the group of ``item``, itself included."""
        return frozenset(self._members[self._find(item)])

    @classmethod
    def from_links(
        cls, groups: Mapping[str, frozenset[str]], records: Iterable[tuple[str, Iterable[str]]]
    ) -> AliasGroups:
        """Build from an index's alias groups and (id, aliases) of matched records."""
        built = cls()
        for item, group in groups.items():
            built.link((item, *group))
        for item, aliases in records:
            built.link((item, *aliases))
        return built


def preferred_id(ids: Iterable[str]) -> str:
    """The id to show: the (lowest) CVE id of a group, else its first id in sort order."""
    ordered = sorted(set(ids))
    if not ordered:
        raise ValueError("an alias group has at least one id")
    return next((i for i in ordered if i.upper().startswith("CVE-")), ordered[0])
