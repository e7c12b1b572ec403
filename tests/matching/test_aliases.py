"""Alias groups: symmetric, transitive linking of vulnerability ids."""

from __future__ import annotations

import pytest

from medwarden.matching.aliases import AliasGroups, preferred_id
from medwarden.matching.memory import InMemoryIndex
from tests.matching import _corpus


def test_links_are_symmetric_and_transitive() -> None:
    """GO-z lists CVE-y, GHSA-x lists CVE-y: the three are one group."""
    groups = AliasGroups.from_links({}, [("GO-z", ["CVE-y"]), ("GHSA-x", ["CVE-y"])])
    assert groups.members("GHSA-x") == {"GO-z", "CVE-y", "GHSA-x"}
    assert groups.root("GO-z") == groups.root("GHSA-x")
    assert groups.members("unrelated") == {"unrelated"}


def test_preferred_id_is_the_cve() -> None:
    """The CVE id names a group; without one the first id in sort order does."""
    assert preferred_id(["GO-2022-0274", "CVE-2021-43784", "GHSA-v95c"]) == "CVE-2021-43784"
    assert preferred_id(["GO-1", "GHSA-1"]) == "GHSA-1"
    with pytest.raises(ValueError, match="at least one"):
        preferred_id([])


def test_memory_index_links_real_aliases_both_ways() -> None:
    """The in-memory index links a GO record's aliases to it, asked from either side."""
    index = InMemoryIndex([_corpus.osv("GO-2022-0274")])
    groups = index.alias_groups(["CVE-2021-43784", "GO-2022-0274"])
    expected = {"CVE-2021-43784", "GHSA-v95c-p5hm-xq8f", "GO-2022-0274"}
    assert groups["CVE-2021-43784"] == groups["GO-2022-0274"] == expected
