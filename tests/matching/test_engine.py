"""The matching engine end to end over an in-memory index of real records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import pytest

from medwarden.intel.model import (
    Advisory,
    AffectedPackage,
    EventKind,
    RangeEvent,
    RangeType,
    Source,
    VersionRange,
)
from medwarden.matching.engine import MatchOutcome, match_sbom
from medwarden.matching.memory import InMemoryIndex
from medwarden.matching.model import MatchMethod, SeverityRating, SkipReason
from medwarden.sbom.model import Component, Sbom, SbomFormat
from tests.matching import _corpus


def _sbom(*components: Component) -> Sbom:
    return Sbom(SbomFormat.CYCLONEDX_JSON, "1.6", tuple(components))


def _scan(index: Any, *components: Component) -> MatchOutcome:
    return match_sbom(_sbom(*components), index)


def _runc_records() -> list[Advisory]:
    """GO-2022-0274, a GHSA twin of it (the GHSA file is not in the corpus) and the NVD CVE."""
    go = _corpus.osv("GO-2022-0274")
    ghsa = replace(go, id="GHSA-v95c-p5hm-xq8f", aliases=("CVE-2021-43784",))
    return [go, ghsa, _corpus.nvd("CVE-2021-43784")]


RUNC = Component("runc", "runc", "v1.0.1", purl="pkg:golang/github.com/opencontainers/runc@v1.0.1")


def test_alias_folding_into_one_finding() -> None:
    """GO-, GHSA- and CVE- ids of one vulnerability fold into one finding with every id."""
    index = InMemoryIndex(_runc_records(), epss=_corpus.epss_scores())
    outcome = _scan(index, RUNC)
    assert outcome.skipped == ()
    (finding,) = outcome.findings
    assert finding.ids == ("CVE-2021-43784", "GHSA-v95c-p5hm-xq8f", "GO-2022-0274")
    assert finding.vulnerability_id == "CVE-2021-43784"
    assert sorted(m.record_id for m in finding.matches) == ["GHSA-v95c-p5hm-xq8f", "GO-2022-0274"]
    assert finding.fixed_versions == ("1.1.0",)
    assert finding.summary == "Namespace restriction bypass in github.com/opencontainers/runc"


def test_severity_comes_from_alias_only_nvd_record() -> None:
    """The NVD record that did not match itself still gives the GO finding its CVSS."""
    index = InMemoryIndex(_runc_records(), epss=_corpus.epss_scores())
    (finding,) = _scan(index, RUNC).findings
    assert finding.severity is SeverityRating.MEDIUM
    assert finding.scores[0].source == "nvd@nist.gov"
    assert finding.scores[0].base_score == 5.0
    assert finding.epss is not None
    assert finding.epss.score == pytest.approx(0.01795)


def test_kev_and_epss_attached_by_cve_alias() -> None:
    """A finding whose group holds a KEV-listed CVE carries the KEV entry and EPSS score."""
    record = replace(_corpus.osv("GHSA-xpw8-rcwv-8f8p"), aliases=("CVE-2023-44487",))
    index = InMemoryIndex([record], kev=[_corpus.kev_entry()], epss=_corpus.epss_scores())
    netty = Component(
        "netty", "netty-codec-http2", "4.1.99.Final",
        purl="pkg:maven/io.netty/netty-codec-http2@4.1.99.Final",
    )  # fmt: skip
    (finding,) = _scan(index, netty).findings
    assert finding.kev == _corpus.kev_entry()
    assert finding.epss is not None
    assert finding.epss.score == pytest.approx(0.99999)
    assert finding.vulnerability_id == "CVE-2023-44487"


def test_empty_alias_list_stays_its_own_finding() -> None:
    """A record with no aliases (GHSA-xpw8-rcwv-8f8p upstream) is a finding under its own id."""
    index = InMemoryIndex([_corpus.osv("GHSA-xpw8-rcwv-8f8p")], kev=[_corpus.kev_entry()])
    netty = Component(
        "n", "netty", "4.1.99.Final", purl="pkg:maven/io.netty/netty-codec-http2@4.1.99.Final"
    )
    (finding,) = _scan(index, netty).findings
    assert (finding.vulnerability_id, finding.kev) == ("GHSA-xpw8-rcwv-8f8p", None)


class CountingIndex:
    """Wraps an index and counts calls per method."""

    def __init__(self, inner: InMemoryIndex) -> None:
        self.inner = inner
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def counted(keys: Iterable[Any]) -> Mapping[Any, Any]:
            self.calls[name] = self.calls.get(name, 0) + 1
            return method(keys)  # type: ignore[no-any-return]

        return counted


def _many(n: int) -> list[Component]:
    out = []
    for i in range(n):
        out.append(Component(f"l{i}", "lodash", "4.17.20", purl="pkg:npm/lodash@4.17.20"))
        out.append(
            Component(
                f"r{i}", "runc", "1.0.1", purl="pkg:golang/github.com/opencontainers/runc@1.0.1"
            )
        )
        out.append(
            Component(f"z{i}", "zlib", "1.2.11", cpes=("cpe:2.3:a:zlib:zlib:1.2.11:*:*:*:*:*:*:*",))
        )
    return out


@pytest.mark.parametrize("n", [1, 40])
def test_query_count_does_not_grow_with_components(n: int) -> None:
    """Each index method is called exactly once, for 3 or 120 components alike."""
    records = [*_runc_records(), _corpus.osv("GHSA-35jh-r3h4-6jhm"), _corpus.nvd("CVE-2022-37434")]
    index = CountingIndex(InMemoryIndex(records, epss=_corpus.epss_scores()))
    outcome = _scan(index, *_many(n))
    assert len(outcome.findings) == 3 * n
    assert index.calls == {
        "advisories_by_package": 1,
        "advisories_by_cpe": 1,
        "covered_ecosystems": 1,
        "alias_groups": 1,
        "kev_entries": 1,
        "epss_scores": 1,
        "summaries": 1,
    }


def test_findings_are_ordered_by_component_then_id() -> None:
    """Findings follow SBOM component order, then vulnerability id."""
    records = [*_runc_records(), _corpus.osv("GHSA-35jh-r3h4-6jhm"), _corpus.nvd("CVE-2022-37434")]
    outcome = _scan(InMemoryIndex(records), *_many(2))
    assert [f.component_ref for f in outcome.findings] == ["l0", "r0", "z0", "l1", "r1", "z1"]


def test_language_purls_do_not_use_cpes_but_other_purls_do() -> None:
    """An npm component is matched by purl only; bitnami and generic purls also use CPEs."""
    index = InMemoryIndex([_corpus.nvd("CVE-2022-37434"), _corpus.nvd("CVE-2021-23337")])
    cpe_lodash = "cpe:2.3:a:lodash:lodash:4.17.20:*:*:*:*:*:*:*"
    cpe_zlib = "cpe:2.3:*:zlib:zlib:1.2.11:*:*:*:*:*:*:*"
    outcome = _scan(
        index,
        Component("npm", "lodash", "4.17.20", purl="pkg:npm/lodash@4.17.20", cpes=(cpe_lodash,)),
        Component("bn", "zlib", "1.2.11", purl="pkg:bitnami/zlib@1.2.11", cpes=(cpe_zlib,)),
        Component("gen", "zlib", "1.2.11", purl="pkg:generic/zlib@1.2.11", cpes=(cpe_zlib,)),
    )
    assert [(f.component_ref, f.vulnerability_id) for f in outcome.findings] == [
        ("bn", "CVE-2022-37434"),
        ("gen", "CVE-2022-37434"),
    ]
    evidence = outcome.findings[0].matches[0].evidence
    assert evidence.method is MatchMethod.CPE_CONFIGURATION
    assert (evidence.range, evidence.confidence) == ("<=1.2.12", 0.9)


def test_cpe_platform_evidenced_by_another_component() -> None:
    """Go 1.17.9 on a Linux kernel listed in the same SBOM matches at full CPE confidence."""
    index = InMemoryIndex([_corpus.nvd("CVE-2022-29526")])
    go = Component("go", "go", "1.17.9", cpes=("cpe:2.3:a:golang:go:1.17.9:*:*:*:*:*:*:*",))
    kernel = Component(
        "k", "linux", "5.10", cpes=("cpe:2.3:o:linux:linux_kernel:5.10:*:*:*:*:*:*:*",)
    )
    (alone,) = _scan(index, go).findings
    (with_kernel,) = _scan(index, go, kernel).findings
    assert alone.matches[0].evidence.confidence == 0.4
    assert with_kernel.matches[0].evidence.confidence == 0.9
    assert with_kernel.fixed_versions == ("1.17.10",)


def _debian_openssl() -> Advisory:
    rng = VersionRange(
        RangeType.ECOSYSTEM,
        (RangeEvent(EventKind.INTRODUCED, "0"), RangeEvent(EventKind.FIXED, "1.1.0l-1~deb9u1")),
    )
    affected = AffectedPackage("Debian:9", "openssl", (rng,))
    return Advisory(
        "DSA-0000-1", Source.OSV, _corpus.osv("GO-2022-0274").modified, affected=(affected,)
    )


@pytest.mark.parametrize(
    ("qualifier", "finding", "skip"),
    [
        ("?distro=debian-9", True, None),
        ("?distro=debian-10", False, None),
        ("", False, SkipReason.DISTRO_RELEASE_UNKNOWN),
    ],
)
def test_distribution_release(qualifier: str, finding: bool, skip: SkipReason | None) -> None:
    """A Debian:9 advisory matches only debian-9; an unknown release is reported as skipped."""
    purl = f"pkg:deb/debian/openssl@1.1.0k-1~deb9u1{qualifier}"
    outcome = _scan(InMemoryIndex([_debian_openssl()]), Component("o", "openssl", purl=purl))
    assert bool(outcome.findings) is finding
    assert [s.reason for s in outcome.skipped] == ([skip] if skip else [])


@pytest.mark.parametrize(
    ("component", "reason"),
    [
        (Component("a", "thing", "1.0"), SkipReason.NO_IDENTIFIER),
        (Component("a", "lodash", purl="pkg:npm/lodash"), SkipReason.NO_VERSION),
        (
            Component("a", "zlib", cpes=("cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*",)),
            SkipReason.NO_VERSION,
        ),
        (Component("a", "x", "1.0", purl="not-a-purl"), SkipReason.MALFORMED_PURL),
        (Component("a", "x", "1.0", cpes=("cpe:2.3:a:too:short",)), SkipReason.MALFORMED_CPE),
        (Component("a", "x", "1.0", purl="pkg:unknowntype/x@1.0"), SkipReason.UNKNOWN_ECOSYSTEM),
        (
            Component("a", "x", "1.0", cpes=("cpe:2.3:a:*:*:1.0:*:*:*:*:*:*:*",)),
            SkipReason.NO_IDENTIFIER,
        ),
        (
            Component(
                "a", "requests", "not a version!", purl="pkg:pypi/requests@not%20a%20version%21"
            ),
            SkipReason.UNPARSABLE_VERSION,
        ),
        (
            Component("a", "zlib", "latest", cpes=("cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*",)),
            SkipReason.UNPARSABLE_VERSION,
        ),
    ],
)
def test_skip_reasons(component: Component, reason: SkipReason) -> None:
    """A component that cannot be analysed is reported with its reason, never dropped."""
    index = InMemoryIndex([_corpus.osv("GHSA-j8r2-6x86-q33q"), _corpus.nvd("CVE-2022-37434")])
    outcome = _scan(index, component)
    assert outcome.findings == ()
    assert [s.reason for s in outcome.skipped] == [reason]
    assert outcome.skipped[0].component_ref == "a"
    assert outcome.skipped[0].detail


class _LeakyIndex(InMemoryIndex):
    """An index that wrongly returns withdrawn records."""

    def advisories_by_package(
        self, keys: Iterable[tuple[str, str]]
    ) -> Mapping[tuple[str, str], list[Advisory]]:
        withdrawn = replace(
            _corpus.osv("GHSA-35jh-r3h4-6jhm"), withdrawn=_corpus.nvd("CVE-2022-37434").modified
        )
        return {("npm", "lodash"): [withdrawn]}


def test_withdrawn_records_never_match() -> None:
    """A withdrawn record does not match even if an index returns it."""
    lodash = Component("l", "lodash", "4.17.20", purl="pkg:npm/lodash@4.17.20")
    assert _scan(_LeakyIndex(), lodash).findings == ()
    withdrawn = replace(
        _corpus.osv("GHSA-35jh-r3h4-6jhm"), withdrawn=_corpus.nvd("CVE-2022-37434").modified
    )
    assert _scan(InMemoryIndex([withdrawn]), lodash).findings == ()


def test_purl_evidence() -> None:
    """A purl match records the purl, the package, the range in words and full confidence."""
    index = InMemoryIndex([_corpus.osv("GHSA-35jh-r3h4-6jhm"), _corpus.nvd("CVE-2021-23337")])
    lodash = Component("l", "lodash", "4.17.20", purl="pkg:npm/lodash@4.17.20")
    (finding,) = _scan(index, lodash).findings
    (match,) = finding.matches
    assert match.evidence.method is MatchMethod.PURL_RANGE
    assert (match.evidence.identifier, match.evidence.criteria) == (
        "pkg:npm/lodash@4.17.20",
        "npm/lodash",
    )
    assert (match.evidence.range, match.evidence.confidence) == ("<4.17.21", 1.0)
    assert finding.severity is SeverityRating.HIGH  # NVD primary v3.1 7.2


def test_cve5_records_with_affected_packages_match_by_purl() -> None:
    """Any source may carry OSV-style affected packages: a CVE 5 record matches by purl too."""
    record = replace(_corpus.osv("GHSA-35jh-r3h4-6jhm"), id="CVE-2021-23337", source=Source.CVE5)
    lodash = Component("l", "lodash", "4.17.20", purl="pkg:npm/lodash@4.17.20")
    (finding,) = _scan(InMemoryIndex([record]), lodash).findings
    assert finding.matches[0].evidence.record_source is Source.CVE5


def test_component_of_an_ecosystem_the_mirror_lacks_is_reported_not_clean() -> None:
    """A Debian package scanned with no Debian advisories mirrored is skipped, not 'clean'."""
    index = InMemoryIndex([_corpus.osv("GHSA-j8r2-6x86-q33q")])
    deb = Component(
        "d",
        "openssl",
        "1.1.0l-1~deb9u5",
        purl="pkg:deb/debian/openssl@1.1.0l-1~deb9u5?distro=debian-9",
    )
    requests = Component("r", "requests", "2.28.1", purl="pkg:pypi/requests@2.28.1")
    outcome = _scan(index, deb, requests)
    assert [(s.component_ref, s.reason) for s in outcome.skipped] == [
        ("d", SkipReason.NO_INTELLIGENCE)
    ]
    assert "Debian" in outcome.skipped[0].detail
    assert [f.component_ref for f in outcome.findings] == ["r"]
