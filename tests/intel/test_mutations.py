"""Corpus records damaged at any depth give well-typed records or a located IntelParseError."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.errors import IntelParseError
from medwarden.intel.model import Advisory
from medwarden.intel.sources import parse_csaf, parse_cve5, parse_nvd, parse_osv

FETCHED = datetime(2026, 1, 1, tzinfo=UTC)
INTEL = Path(__file__).parents[1] / "fixtures" / "intel"
SAMPLES: list[tuple[Callable[..., list[Advisory]], str]] = [
    (parse_nvd, "nvd/CVE-2022-37434.json"),
    (parse_nvd, "nvd/CVE-2024-3094.json"),
    (parse_osv, "osv/GO-2022-0493.json"),
    (parse_osv, "osv/GHSA-8hfj-j24r-96c4.json"),
    (parse_cve5, "cve5/CVE-2024-3094.json"),
    (parse_cve5, "cve5/CVE-2023-39325.json"),
    (parse_csaf, "../csaf/guac_rhsa-csaf.json"),
    (parse_csaf, "../csaf/oasis_bsi-2022-0001.json"),
    (parse_csaf, "../csaf/oasis_rhsa-2021_5186.json"),
]
WRONG = st.sampled_from([None, 0, 1.5, True, "", "x", [], [1], {}, {"a": 1}])


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:3]):
            yield from _paths(child, (*prefix, index))


def _strings(*values: object) -> bool:
    return all(isinstance(v, str) for v in values)


def _check_types(advisory: Advisory) -> None:
    assert _strings(advisory.id, *advisory.aliases, *advisory.references, *advisory.cwes)
    assert advisory.summary is None or isinstance(advisory.summary, str)
    for package in advisory.affected:
        assert _strings(package.ecosystem, package.name, *package.versions)
        assert package.purl is None or isinstance(package.purl, str)
        assert all(_strings(e.version) for r in package.ranges for e in r.events)
    for severity in advisory.severities:
        assert _strings(severity.vector)
        assert severity.source is None or isinstance(severity.source, str)
    for config in advisory.configurations:
        for node in config.nodes:
            assert node.operator in ("AND", "OR")
            for match in node.matches:
                assert _strings(match.criteria)
                assert isinstance(match.vulnerable, bool)


@pytest.mark.parametrize(("parser", "relative"), SAMPLES, ids=[s[1] for s in SAMPLES])
@given(data=st.data())
def test_damage_at_any_depth(
    parser: Callable[..., list[Advisory]], relative: str, data: st.DataObject
) -> None:
    """Replacing any value with a wrong-typed one yields typed records or IntelParseError."""
    document = orjson.loads((INTEL / relative).read_bytes())
    path = data.draw(st.sampled_from(list(_paths(document))[1:]))
    damaged = copy.deepcopy(document)
    target = damaged
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(WRONG)
    try:
        records = parser(orjson.dumps(damaged), fetched_at=FETCHED, origin="d.json")
    except IntelParseError as error:
        assert error.location is not None  # noqa: PT017 - the error value is the property
        return
    for record in records:
        _check_types(record)
