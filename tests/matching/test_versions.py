"""Version orderings: per-ecosystem choice and the tolerant generic ordering of CPE versions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.matching.versions import (
    GENERIC,
    UnparsableVersionError,
    ordering_for_ecosystem,
    parse_version,
)


@pytest.mark.parametrize(
    ("family", "ordering"),
    [
        ("npm", "npm"),
        ("PyPI", "pypi"),
        ("Maven", "maven"),
        ("Go", "golang"),
        ("Debian", "deb"),
        ("Alpine", "apk"),
        ("Hackage", GENERIC),
        ("NoSuchEcosystem", GENERIC),
    ],
)
def test_ordering_for_ecosystem(family: str, ordering: str) -> None:
    """Each OSV ecosystem family compares versions with its own univers class."""
    assert ordering_for_ecosystem(family) == ordering


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.2.11", "1.2.12"),
        ("1.1.1", "1.1.1n"),  # OpenSSL letter releases come after
        ("1.1.1n", "1.1.1u"),
        ("1.0.2z", "1.0.2zh"),
        ("2.9.9", "2.36.1"),  # numeric, not lexicographic
        ("9.0", "15.3.0"),
        ("2.0-rc1", "2.0"),  # pre-release word before the release
        ("v1.2", "1.3"),
    ],
)
def test_generic_order(lower: str, higher: str) -> None:
    """The generic ordering puts firmware and C library versions in release order."""
    assert parse_version(GENERIC, lower) < parse_version(GENERIC, higher)


def test_generic_trailing_zeros_are_equal() -> None:
    """``1.0`` and ``1.0.0`` are the same generic version."""
    assert parse_version(GENERIC, "1.0") == parse_version(GENERIC, "1.0.0")


@pytest.mark.parametrize(
    ("ordering", "text"), [(GENERIC, "latest"), (GENERIC, ""), ("pypi", "x y")]
)
def test_unparsable_versions_raise(ordering: str, text: str) -> None:
    """A version without meaning in its ordering raises the typed error, not a library one."""
    with pytest.raises(UnparsableVersionError):
        parse_version(ordering, text)


def test_parsed_versions_are_cached() -> None:
    """Parsing the same string twice returns the cached object."""
    assert parse_version("maven", "4.1.94.Final") is parse_version("maven", "4.1.94.Final")


@given(
    st.lists(st.integers(0, 500), min_size=1, max_size=4),
    st.lists(st.integers(0, 500), min_size=1, max_size=4),
)
def test_generic_numeric_order_matches_tuples(left: list[int], right: list[int]) -> None:
    """Dotted numbers order like their integer tuples (after dropping trailing zeros)."""

    def trim(values: list[int]) -> list[int]:
        out = list(values)
        while len(out) > 1 and out[-1] == 0:
            out.pop()
        return out

    a = parse_version(GENERIC, ".".join(map(str, left)))
    b = parse_version(GENERIC, ".".join(map(str, right)))
    assert (a < b) is (trim(left) < trim(right))


_ident = st.one_of(
    st.integers(0, 30).map(str),
    st.text("abcrz-", min_size=1, max_size=4).filter(lambda s: not s.isdigit()),
)
_semver = st.builds(
    lambda core, pre: ".".join(map(str, core)) + (f"-{'.'.join(pre)}" if pre else ""),
    st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 12)),
    st.lists(_ident, max_size=3),
)


@given(_semver, _semver)
def test_semver_key_agrees_with_univers(left: str, right: str) -> None:
    """The fast SemVer key orders exactly like univers' SemverVersion."""
    from univers.versions import SemverVersion

    assert (parse_version("npm", left) < parse_version("npm", right)) is (
        SemverVersion(left) < SemverVersion(right)
    )
    assert (parse_version("npm", left) == parse_version("npm", right)) is (
        SemverVersion(left) == SemverVersion(right)
    )


@pytest.mark.parametrize(
    ("lower", "higher"),
    [("1.0.a", "1.0"), ("1.2.3.pre", "1.2.3"), ("2.3.4", "2.3.10"), ("1.0.0.b1", "1.0.0")],
)
def test_rubygems_order(lower: str, higher: str) -> None:
    """RubyGems prereleases (a letter segment) sort before their release."""
    assert parse_version("gem", lower) < parse_version("gem", higher)


_maven_numeric = st.lists(st.integers(0, 30), min_size=1, max_size=4).map(
    lambda parts: ".".join(map(str, parts))
)
_maven = st.one_of(
    _maven_numeric,
    st.tuples(
        _maven_numeric, st.sampled_from([".Final", "-jre", "-rc1", "-SNAPSHOT", "-alpha-2", ".GA"])
    ).map("".join),
)


@given(_maven, _maven)
def test_maven_fast_order_agrees_with_univers(left: str, right: str) -> None:
    """The numeric fast path orders Maven versions exactly as univers' MavenVersion does."""
    from univers.versions import MavenVersion

    a, b = parse_version("maven", left), parse_version("maven", right)
    expected_lt = MavenVersion(left) < MavenVersion(right)
    expected_eq = MavenVersion(left) == MavenVersion(right)
    assert (a < b) == expected_lt
    assert (a == b) == expected_eq
