"""NVD configuration evaluation on real records, wildcard confusion and NA versions."""

from __future__ import annotations

import pytest

from medwarden.core.cpe import parse_cpe
from medwarden.intel.model import CpeConfiguration, CpeMatch, CpeNode
from medwarden.matching.cpe_configurations import (
    CONFIDENCE_ANY_VERSION,
    CONFIDENCE_EXACT,
    CONFIDENCE_IN_BOUNDS,
    CONFIDENCE_NA_VERSION,
    CONFIDENCE_UNEVIDENCED_PLATFORM,
    CpeTarget,
    CpeVerdict,
    PlatformIndex,
    evaluate_configurations,
    match_criteria,
)
from medwarden.matching.versions import UnparsableVersionError
from tests.matching import _corpus


def _target(text: str, version: str | None = None) -> CpeTarget:
    cpe = parse_cpe(text)
    return CpeTarget(text, cpe, version if cpe.version == "*" else cpe.version)


def _evaluate(
    cve: str, cpe: str, version: str | None = None, platforms: tuple[str, ...] = ()
) -> CpeVerdict | None:
    index = PlatformIndex((f"platform-{i}", _target(p)) for i, p in enumerate(platforms))
    record = _corpus.nvd(cve)
    return evaluate_configurations(record.configurations, [_target(cpe, version)], index, "me")


REAL = [
    # (cve, component cpe, expected range text or None)
    ("CVE-2022-37434", "cpe:2.3:a:zlib:zlib:1.2.12:*:*:*:*:*:*:*", "<=1.2.12"),
    ("CVE-2022-37434", "cpe:2.3:a:zlib:zlib:1.2.13:*:*:*:*:*:*:*", None),
    ("CVE-2023-0464", "cpe:2.3:a:openssl:openssl:1.1.1n:*:*:*:*:*:*:*", ">=1.1.1, <1.1.1u"),
    ("CVE-2023-0464", "cpe:2.3:a:openssl:openssl:1.1.1u:*:*:*:*:*:*:*", None),
    ("CVE-2023-0464", "cpe:2.3:a:openssl:openssl:1.0.2zg:*:*:*:*:*:*:*", ">=1.0.2, <1.0.2zh"),
    ("CVE-2023-0464", "cpe:2.3:a:openssl:openssl:1.0.2zh:*:*:*:*:*:*:*", None),
    ("CVE-2023-0464", "cpe:2.3:a:openssl:openssl:3.0.8:*:*:*:*:*:*:*", ">=3.0.0, <3.0.9"),
    ("CVE-2023-0464", "cpe:2.3:a:openssl:openssl:1.0.1u:*:*:*:*:*:*:*", None),
    ("CVE-2022-48174", "cpe:2.3:a:busybox:busybox:1.36.1:*:*:*:*:*:*:*", "<=1.36.1"),
    ("CVE-2022-48174", "cpe:2.3:a:busybox:busybox:1.37.0:*:*:*:*:*:*:*", None),
    ("CVE-2023-2454", "cpe:2.3:a:postgresql:postgresql:11.15:*:*:*:*:*:*:*", ">=11.0, <11.20"),
    ("CVE-2023-2454", "cpe:2.3:a:postgresql:postgresql:11.20:*:*:*:*:*:*:*", None),
    ("CVE-2023-2454", "cpe:2.3:a:postgresql:postgresql:15.2:*:*:*:*:*:*:*", ">=15.0, <15.3"),
    ("CVE-2023-2454", "cpe:2.3:a:postgresql:postgresql:10.23:*:*:*:*:*:*:*", None),
    ("CVE-2024-3094", "cpe:2.3:a:tukaani:xz:5.6.1:*:*:*:*:*:*:*", "=5.6.1"),
    ("CVE-2024-3094", "cpe:2.3:a:tukaani:xz:5.4.6:*:*:*:*:*:*:*", None),
    # target_sw node.js in the criteria: a python build is DISJOINT, an unstated one is not
    ("CVE-2015-9235", "cpe:2.3:a:auth0:jsonwebtoken:4.2.1:*:*:*:*:python:*:*", None),
    ("CVE-2015-9235", "cpe:2.3:a:auth0:jsonwebtoken:4.2.1:*:*:*:*:*:*:*", "<4.2.2"),
    # bitnami SBOMs write part "*"
    ("CVE-2022-37434", "cpe:2.3:*:zlib:zlib:1.2.11:*:*:*:*:*:*:*", "<=1.2.12"),
    # update attribute: sinec_ins 1.0 sp1 is listed, sp2 is not
    ("CVE-2021-23337", "cpe:2.3:a:siemens:sinec_ins:1.0:sp1:*:*:*:*:*:*", "=1.0"),
    ("CVE-2021-23337", "cpe:2.3:a:siemens:sinec_ins:1.0:sp2:*:*:*:*:*:*", None),
]


@pytest.mark.parametrize(("cve", "cpe", "expected"), REAL)
def test_real_configurations(cve: str, cpe: str, expected: str | None) -> None:
    """Each real NVD configuration matches exactly the component CPEs inside its bounds."""
    verdict = _evaluate(cve, cpe)
    assert (verdict.range_text if verdict else None) == expected


def test_confidences() -> None:
    """Explicit bounds, exact versions and version-ANY criteria carry graded confidences."""
    bounded = _evaluate("CVE-2022-37434", "cpe:2.3:a:zlib:zlib:1.2.11:*:*:*:*:*:*:*")
    exact = _evaluate("CVE-2024-3094", "cpe:2.3:a:tukaani:xz:5.6.0:*:*:*:*:*:*:*")
    assert bounded is not None
    assert exact is not None
    assert (bounded.confidence, exact.confidence) == (CONFIDENCE_IN_BOUNDS, CONFIDENCE_EXACT)
    assert bounded.fixed_version is None
    anything = match_criteria(
        CpeMatch("cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*", vulnerable=True),
        _target("cpe:2.3:a:zlib:zlib:1.2.11:*:*:*:*:*:*:*"),
    )
    assert anything is not None
    assert anything.confidence == CONFIDENCE_ANY_VERSION


def test_component_version_used_when_cpe_version_is_any() -> None:
    """A component CPE with version ANY is compared using the component's own version."""
    assert _evaluate("CVE-2022-37434", "cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*", "1.2.11")
    assert _evaluate("CVE-2022-37434", "cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*", "1.3") is None


def test_and_configuration_with_evidenced_platform() -> None:
    """Go on Linux (CVE-2022-29526) matches fully when another component is the Linux kernel."""
    verdict = _evaluate(
        "CVE-2022-29526",
        "cpe:2.3:a:golang:go:1.17.9:*:*:*:*:*:*:*",
        platforms=("cpe:2.3:o:linux:linux_kernel:5.10.0:*:*:*:*:*:*:*",),
    )
    assert verdict is not None
    assert verdict.confidence == CONFIDENCE_IN_BOUNDS
    assert verdict.range_text == "<1.17.10"
    assert verdict.fixed_version == "1.17.10"


def test_and_configuration_without_platform_is_reported_low() -> None:
    """Without a platform in the SBOM the match is kept, at low confidence, saying why."""
    verdict = _evaluate("CVE-2022-29526", "cpe:2.3:a:golang:go:1.18.1:*:*:*:*:*:*:*")
    assert verdict is not None
    assert verdict.confidence == CONFIDENCE_UNEVIDENCED_PLATFORM
    assert verdict.range_text == (
        ">=1.18.0, <1.18.2; platform not evidenced: cpe:2.3:o:linux:linux_kernel:-:*:*:*:*:*:*:*"
    )


def test_platform_must_be_another_component() -> None:
    """A component cannot evidence its own platform condition."""
    record = _corpus.nvd("CVE-2022-29526")
    go = _target("cpe:2.3:a:golang:go:1.17.9:*:*:*:*:*:*:*")
    index = PlatformIndex([("me", _target("cpe:2.3:o:linux:linux_kernel:5.10:*:*:*:*:*:*:*"))])
    verdict = evaluate_configurations(record.configurations, [go], index, "me")
    assert verdict is not None
    assert verdict.confidence == CONFIDENCE_UNEVIDENCED_PLATFORM


def test_firmware_on_hardware_with_na_versions() -> None:
    """NetApp H300S firmware ``-`` on hardware ``-`` (CVE-2022-37434) matches NA to NA."""
    verdict = _evaluate(
        "CVE-2022-37434",
        "cpe:2.3:o:netapp:h300s_firmware:-:*:*:*:*:*:*:*",
        platforms=("cpe:2.3:h:netapp:h300s:-:*:*:*:*:*:*:*",),
    )
    assert verdict is not None
    assert verdict.confidence == CONFIDENCE_NA_VERSION


def test_na_criteria_version_needs_na_component_version() -> None:
    """Criteria version NA (netapp cloud_manager ``-``) does not match a concrete version."""
    assert _evaluate("CVE-2021-23337", "cpe:2.3:a:netapp:cloud_manager:3.9:*:*:*:*:*:*:*") is None
    assert _evaluate("CVE-2021-23337", "cpe:2.3:a:netapp:cloud_manager:-:*:*:*:*:*:*:*")


def test_concrete_criteria_version_does_not_match_na_component() -> None:
    """A concrete or bounded criteria version never matches a component version NA."""
    assert _evaluate("CVE-2024-3094", "cpe:2.3:a:tukaani:xz:-:*:*:*:*:*:*:*") is None
    assert _evaluate("CVE-2022-37434", "cpe:2.3:a:zlib:zlib:-:*:*:*:*:*:*:*") is None


@pytest.mark.parametrize(
    ("criteria", "component"),
    [
        ("cpe:2.3:a:*:*:*:*:*:*:*:*:*:*", "cpe:2.3:a:zlib:zlib:1.2.11:*:*:*:*:*:*:*"),
        ("cpe:2.3:a:*:zlib:*:*:*:*:*:*:*:*", "cpe:2.3:a:zlib:zlib:1.2.11:*:*:*:*:*:*:*"),
        ("cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*", "cpe:2.3:a:*:zlib:1.2.11:*:*:*:*:*:*:*"),
        ("cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*", "cpe:2.3:a:zlib:*:1.2.11:*:*:*:*:*:*:*"),
        ("cpe:2.3:a:*:*:*:*:*:*:*:*:*:*", "cpe:2.3:a:*:*:*:*:*:*:*:*:*:*"),
        ("cpe:2.3:a:-:-:*:*:*:*:*:*:*:*", "cpe:2.3:a:-:-:1.0:*:*:*:*:*:*:*"),
        ("cpe:2.3:o:zlib:zlib:*:*:*:*:*:*:*:*", "cpe:2.3:a:zlib:zlib:1.2.11:*:*:*:*:*:*:*"),
    ],
)
def test_no_wildcard_confusion(criteria: str, component: str) -> None:
    """ANY or NA vendor/product on either side, or a different part, never matches."""
    assert match_criteria(CpeMatch(criteria, vulnerable=True), _target(component, "1.0")) is None


def test_non_vulnerable_entries_produce_no_match() -> None:
    """Being the platform of a configuration (linux_kernel) is not being vulnerable."""
    assert _evaluate("CVE-2022-29526", "cpe:2.3:o:linux:linux_kernel:5.10:*:*:*:*:*:*:*") is None


def test_negated_platform_node() -> None:
    """A negated platform node holds when no component matches it."""
    app = CpeNode("OR", (CpeMatch("cpe:2.3:a:acme:pump:*:*:*:*:*:*:*:*", True),))
    not_win = CpeNode("OR", (CpeMatch("cpe:2.3:o:microsoft:windows:*:*:*:*:*:*:*:*", False),), True)
    config = CpeConfiguration((app, not_win), "AND")
    pump = [_target("cpe:2.3:a:acme:pump:2.0:*:*:*:*:*:*:*")]
    windows = ("other", _target("cpe:2.3:o:microsoft:windows:10:*:*:*:*:*:*:*"))
    clean = evaluate_configurations([config], pump, PlatformIndex(), "me")
    assert clean is not None
    assert clean.confidence == CONFIDENCE_ANY_VERSION
    on_windows = evaluate_configurations([config], pump, PlatformIndex([windows]), "me")
    assert on_windows is not None
    assert "NOT cpe:2.3:o:microsoft:windows" in on_windows.range_text


def test_unparsable_component_version_raises() -> None:
    """A component version that cannot be compared with the bounds raises the typed error."""
    with pytest.raises(UnparsableVersionError):
        _evaluate("CVE-2022-37434", "cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*", "latest")
