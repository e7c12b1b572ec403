"""OSV range evaluation on real GitHub and Go advisories, plus the spec's edge cases."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from medwarden.core.ecosystems import PackageKey
from medwarden.intel.model import (
    AffectedPackage,
    EventKind,
    RangeEvent,
    RangeType,
    VersionRange,
)
from medwarden.matching.model import MatchMethod
from medwarden.matching.osv_ranges import ReleaseFit, evaluate_affected, is_affected, release_fit
from medwarden.matching.versions import SEMVER, UnparsableVersionError
from tests.matching import _corpus


def _affected_by(record_id: str, name: str, version: str) -> bool:
    advisory = _corpus.osv(record_id)
    entries = [a for a in advisory.affected if a.name == name]
    assert entries, f"{record_id} has no entry for {name}"
    return any(evaluate_affected(a, version) is not None for a in entries)


CASES = [
    # (record, package, version, affected) -- why
    ("GHSA-35jh-r3h4-6jhm", "lodash", "4.17.20", True),  # introduced 0
    ("GHSA-35jh-r3h4-6jhm", "lodash", "4.17.21", False),  # fixed is exclusive
    ("GHSA-35jh-r3h4-6jhm", "lodash", "0.0.1", True),
    ("GHSA-3h5v-q93c-6h6q", "ws", "7.4.0", True),  # one of four affected entries
    ("GHSA-3h5v-q93c-6h6q", "ws", "6.2.3", False),
    ("GHSA-3h5v-q93c-6h6q", "ws", "2.0.0", False),  # below every introduced
    ("GHSA-3h5v-q93c-6h6q", "ws", "8.17.1-beta.1", True),  # npm prerelease < release
    ("GHSA-3h5v-q93c-6h6q", "ws", "8.0.0-alpha.1", False),  # prerelease below introduced
    ("GHSA-6mjq-h674-j845", "io.netty:netty-handler", "4.1.93.Final", True),
    ("GHSA-6mjq-h674-j845", "io.netty:netty-handler", "4.1.94.Final", False),
    ("GHSA-6mjq-h674-j845", "io.netty:netty-handler", "4.1.100.Final", False),  # numeric
    ("GHSA-hh82-3pmq-7frp", "io.netty:netty-codec-http", "4.1.82.Final", False),
    ("GHSA-hh82-3pmq-7frp", "io.netty:netty-codec-http", "4.1.85.Final", True),
    ("GHSA-jjjh-jjxp-wpff", "com.fasterxml.jackson.core:jackson-databind", "2.4.0-rc1", True),
    ("GHSA-jjjh-jjxp-wpff", "com.fasterxml.jackson.core:jackson-databind", "2.4.0-beta1", False),
    ("GHSA-jjjh-jjxp-wpff", "com.fasterxml.jackson.core:jackson-databind", "2.12.7", True),
    ("GHSA-jjjh-jjxp-wpff", "com.fasterxml.jackson.core:jackson-databind", "2.12.7.1", False),
    ("GHSA-jjjh-jjxp-wpff", "com.fasterxml.jackson.core:jackson-databind", "2.13.4", True),
    ("GHSA-jjjh-jjxp-wpff", "com.fasterxml.jackson.core:jackson-databind", "2.13.4.1", False),
    ("GHSA-w3h3-4rj7-4ph4", "gunicorn", "21.2.0", True),  # last_affected is inclusive
    ("GHSA-w3h3-4rj7-4ph4", "gunicorn", "21.2.0rc1", True),
    ("GHSA-w3h3-4rj7-4ph4", "gunicorn", "21.2.0.post1", False),  # post release after it
    ("GHSA-w3h3-4rj7-4ph4", "gunicorn", "22.0.0", False),
    ("GHSA-j8r2-6x86-q33q", "requests", "2.30.0.post1", True),
    ("GHSA-j8r2-6x86-q33q", "requests", "2.31.0.dev1", True),  # dev release before fix
    ("GHSA-j8r2-6x86-q33q", "requests", "2.31.0.post1", False),
    ("GHSA-xqr8-7jwr-rhp7", "certifi", "2022.12.7", True),
    ("GHSA-xqr8-7jwr-rhp7", "certifi", "2023.7.22", False),  # PEP 440 drops leading zeros
    ("GHSA-v845-jxx5-vc9f", "urllib3", "1.26.16", True),
    ("GHSA-v845-jxx5-vc9f", "urllib3", "1.26.17", False),
    ("GHSA-v845-jxx5-vc9f", "urllib3", "2.0.5", True),
    ("GO-2022-0493", "stdlib", "1.17.9", True),  # two introduced/fixed pairs
    ("GO-2022-0493", "stdlib", "1.17.10", False),
    ("GO-2022-0493", "stdlib", "1.18.0-beta1", True),  # introduced 1.18.0-0
    ("GO-2022-0493", "stdlib", "v1.18.1", True),  # Go's v prefix
    ("GO-2022-0493", "stdlib", "1.18.2", False),
    ("GO-2022-0493", "golang.org/x/sys", "v0.0.0-20210927181540-4e4d966f7476", True),
    ("GO-2022-0493", "golang.org/x/sys", "v0.0.0-20220412211240-33da011f77ad", False),
    ("GO-2022-0493", "golang.org/x/sys", "v0.1.0", False),
    ("GO-2022-0274", "github.com/opencontainers/runc", "v1.0.1", True),  # after pseudo
    ("GO-2022-0274", "github.com/opencontainers/runc", "v1.0.0", False),
    ("GO-2022-0274", "github.com/opencontainers/runc", "1.0.1-0.20211012131345-9c444070ec7b", True),
    ("GO-2025-4096", "github.com/opencontainers/runc", "1.3.0-rc.0", False),
    ("GO-2025-4096", "github.com/opencontainers/runc", "1.3.0-rc.1", True),
    ("GO-2025-4096", "github.com/opencontainers/runc", "1.4.0-rc.2", True),
    ("GO-2025-4096", "github.com/opencontainers/runc", "1.4.0-rc.3", False),
    ("GO-2025-4096", "github.com/opencontainers/runc", "1.2.8", False),
]


@pytest.mark.parametrize(("record", "package", "version", "expected"), CASES)
def test_real_records(record: str, package: str, version: str, expected: bool) -> None:
    """Each real record affects exactly the versions its ranges describe."""
    assert _affected_by(record, package, version) is expected


def test_range_text_and_fixed_versions() -> None:
    """A match says its interval in words and lists the fixes above the version."""
    ws = [a for a in _corpus.osv("GHSA-3h5v-q93c-6h6q").affected if a.name == "ws"]
    verdicts = [v for a in ws if (v := evaluate_affected(a, "7.4.0")) is not None]
    assert [(v.range_text, v.fixed_versions) for v in verdicts] == [
        (">=7.0.0, <7.5.10", ("7.5.10",))
    ]
    stdlib = _corpus.osv("GO-2022-0493").affected[0]
    verdict = evaluate_affected(stdlib, "1.17.0")
    assert verdict is not None
    assert verdict.range_text == "<1.17.10"
    assert verdict.fixed_versions == ("1.17.10", "1.18.2")
    gunicorn = _corpus.osv("GHSA-w3h3-4rj7-4ph4").affected[0]
    assert evaluate_affected(gunicorn, "20.0.0") == evaluate_affected(gunicorn, "21.0.0")
    verdict = evaluate_affected(gunicorn, "20.0.0")
    assert verdict is not None
    assert verdict.range_text == "<=21.2.0"


def _npm(*events: tuple[EventKind, str], versions: tuple[str, ...] = ()) -> AffectedPackage:
    rng = VersionRange(RangeType.ECOSYSTEM, tuple(RangeEvent(k, v) for k, v in events))
    return AffectedPackage("npm", "left-pad", (rng,), versions)


@pytest.mark.parametrize(
    ("version", "expected"), [("1.5.0", True), ("2.0.0", False), ("3.0.0", False)]
)
def test_limit_caps_the_range(version: str, expected: bool) -> None:
    """Versions at or above a ``limit`` are not affected (synthetic: no corpus record has one)."""
    affected = _npm((EventKind.INTRODUCED, "0"), (EventKind.LIMIT, "2.0.0"))
    assert (evaluate_affected(affected, version) is not None) is expected


def test_limit_star_means_no_limit() -> None:
    """``limit: "*"`` does not cap the range."""
    affected = _npm((EventKind.INTRODUCED, "1.0.0"), (EventKind.LIMIT, "*"))
    assert evaluate_affected(affected, "99.0.0") is not None


def test_unsorted_events_give_the_same_result() -> None:
    """Reversing a real record's events changes nothing (events are sorted first)."""
    real = _corpus.osv("GO-2025-4096").affected[0]
    rng = real.ranges[0]
    shuffled = replace(real, ranges=(replace(rng, events=tuple(reversed(rng.events))),))
    for version in ("1.2.7", "1.2.8", "1.3.0-rc.2", "1.3.3", "1.4.0-rc.1", "1.4.0"):
        assert (evaluate_affected(real, version) is None) is (
            evaluate_affected(shuffled, version) is None
        )


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.1.0k-1~deb9u1", True),
        ("1.1.0l-1~deb9u1", False),
        ("1.1.0l-1~deb9u0", True),  # tilde sorts before
        ("2.9-1", True),  # no epoch is epoch 0, below 1:...
        ("1:2.2-1", True),
        ("1:2.3-1", False),
        ("2:0.1-1", False),
    ],
)
def test_debian_epochs_and_tildes(version: str, expected: bool) -> None:
    """Debian ordering: epochs dominate, ``~`` sorts before anything (synthetic record)."""
    events = (RangeEvent(EventKind.INTRODUCED, "0"), RangeEvent(EventKind.FIXED, "1:2.3-1"))
    low = (RangeEvent(EventKind.INTRODUCED, "0"), RangeEvent(EventKind.FIXED, "1.1.0l-1~deb9u1"))
    if version.startswith("1.1.0"):
        events = low
    affected = AffectedPackage("Debian:9", "openssl", (VersionRange(RangeType.ECOSYSTEM, events),))
    assert (evaluate_affected(affected, version) is not None) is expected


def test_ties_do_not_depend_on_document_order() -> None:
    """An introduced/fixed pair at one version is an empty interval in either order."""
    for events in (
        ((EventKind.FIXED, "1.0.0"), (EventKind.INTRODUCED, "1.0.0")),
        ((EventKind.INTRODUCED, "1.0.0"), (EventKind.FIXED, "1.0.0")),
    ):
        affected = _npm(*events)
        assert [evaluate_affected(affected, v) for v in ("0.9.0", "1.0.0", "2.0.0")] == [None] * 3
    exact = _npm((EventKind.LAST_AFFECTED, "1.0.0"), (EventKind.INTRODUCED, "1.0.0"))
    assert evaluate_affected(exact, "1.0.0") is not None
    assert evaluate_affected(exact, "1.0.1") is None


def test_versions_list_is_an_exact_match() -> None:
    """An explicit ``versions`` entry matches exactly; GIT ranges are ignored."""
    git = VersionRange(RangeType.GIT, (RangeEvent(EventKind.INTRODUCED, "0"),))
    affected = AffectedPackage("npm", "x", (git,), ("1.2.3",))
    verdict = evaluate_affected(affected, "1.2.3")
    assert verdict is not None
    assert verdict.method is MatchMethod.PURL_VERSION_LIST
    assert evaluate_affected(affected, "1.2.4") is None


def test_unparsable_component_version_raises() -> None:
    """A version the ecosystem cannot read raises a typed error (the engine reports it)."""
    affected = _corpus.osv("GHSA-j8r2-6x86-q33q").affected[0]
    with pytest.raises(UnparsableVersionError):
        evaluate_affected(affected, "not a version!")


@pytest.mark.parametrize(
    ("ecosystem", "release", "expected"),
    [
        ("Debian:9", "9", ReleaseFit.APPLIES),
        ("Debian:9", "10", ReleaseFit.OTHER_RELEASE),
        ("Debian:9", "", ReleaseFit.UNKNOWN_RELEASE),
        ("Debian", "", ReleaseFit.APPLIES),
        ("Alpine:v3.17", "v3.17", ReleaseFit.APPLIES),
        ("Ubuntu:22.04:LTS", "22.04", ReleaseFit.APPLIES),
    ],
)
def test_release_fit(ecosystem: str, release: str, expected: ReleaseFit) -> None:
    """A release-specific advisory applies only to components of the same release."""
    key = PackageKey(ecosystem.split(":")[0], "openssl", release, "deb")
    assert release_fit(ecosystem, key) is expected


_triples = st.tuples(*(st.integers(0, 30) for _ in range(3))).map(lambda t: ".".join(map(str, t)))


@given(a=_triples, b=_triples, v=_triples, ordering=st.sampled_from(["npm", "pypi", "maven"]))
def test_introduced_fixed_is_half_open(a: str, b: str, v: str, ordering: str) -> None:
    """A version is affected by [introduced a, fixed b) iff a <= v < b in the ordering."""

    def key(s: str) -> tuple[int, ...]:
        return tuple(int(p) for p in s.split("."))

    assume(key(a) < key(b))

    rng = VersionRange(
        RangeType.ECOSYSTEM,
        (RangeEvent(EventKind.INTRODUCED, a), RangeEvent(EventKind.FIXED, b)),
    )
    assert is_affected(v, rng, ordering) is (key(a) <= key(v) < key(b))


_RUNC = _corpus.osv("GO-2025-4096").affected[0].ranges[0]


@given(
    events=st.permutations(_RUNC.events),
    version=st.sampled_from(
        ["0.1.0", "1.2.7", "1.2.8", "1.3.0-rc.1", "1.3.3", "1.4.0-rc.2", "2.0.0"]
    ),
)
def test_evaluation_ignores_event_order(events: list[RangeEvent], version: str) -> None:
    """Evaluation of a real range does not depend on the order of its events."""
    shuffled = VersionRange(_RUNC.type, tuple(events))
    assert is_affected(version, shuffled, SEMVER) is is_affected(version, _RUNC, SEMVER)
