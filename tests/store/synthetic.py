"""Synthetic OSV-like and NVD-like advisories for load-rate measurements and query tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from medwarden.intel.model import (
    Advisory,
    AffectedPackage,
    CpeConfiguration,
    CpeMatch,
    CpeNode,
    EventKind,
    Provenance,
    RangeEvent,
    RangeType,
    Severity,
    SeverityType,
    Source,
    VersionRange,
)

BASE = datetime(2024, 1, 1, tzinfo=UTC)
ECOSYSTEMS = ("npm", "PyPI", "Maven", "Go", "Debian:12", "Alpine:v3.19", "crates.io")


def osv_advisory(i: int, rng: random.Random, *, packages: int = 400) -> Advisory:
    """An OSV-style record with two affected packages, SEMVER ranges and aliases."""
    affected = tuple(
        AffectedPackage(
            ecosystem=rng.choice(ECOSYSTEMS),
            name=f"pkg-{rng.randrange(packages)}",
            ranges=(
                VersionRange(
                    RangeType.ECOSYSTEM,
                    (
                        RangeEvent(EventKind.INTRODUCED, "0"),
                        RangeEvent(EventKind.FIXED, f"1.{rng.randrange(50)}.{rng.randrange(9)}"),
                    ),
                ),
            ),
            purl=None,
        )
        for _ in range(2)
    )
    return Advisory(
        id=f"GHSA-{i:06d}",
        source=Source.OSV,
        modified=BASE + timedelta(minutes=i),
        aliases=(f"CVE-2024-{i:06d}",),
        summary=f"Synthetic OSV advisory {i} with a realistic length summary line",
        details="Details paragraph. " * 20,
        published=BASE,
        severities=(
            Severity(SeverityType.CVSS_V3, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ),
        affected=affected,
        references=(f"https://example.org/advisories/{i}", f"https://example.org/fix/{i}"),
        cwes=("CWE-79",),
        provenance=Provenance(Source.OSV, BASE, "sha256:" + "0" * 64, "osv.dev", "CC-BY-4.0"),
    )


def nvd_advisory(i: int, rng: random.Random, *, products: int = 400) -> Advisory:
    """An NVD-style CVE with an application-on-platform AND configuration."""
    vendor = f"vendor{rng.randrange(products // 4)}"
    app = CpeNode(
        "OR",
        (
            CpeMatch(
                f"cpe:2.3:a:{vendor}:product{rng.randrange(products)}:*:*:*:*:*:*:*:*",
                True,
                version_end_excluding=f"2.{rng.randrange(20)}",
            ),
        ),
    )
    platform = CpeNode("OR", (CpeMatch("cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*", False),))
    return Advisory(
        id=f"CVE-2024-{i:06d}",
        source=Source.NVD,
        modified=BASE + timedelta(minutes=i),
        summary=f"Synthetic NVD description {i}. " * 4,
        published=BASE,
        severities=(
            Severity(SeverityType.CVSS_V3, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ),
        configurations=(CpeConfiguration((app, platform), "AND"),),
        references=(f"https://nvd.example/{i}",),
        cwes=("CWE-787",),
        status="Analyzed",
        provenance=Provenance(Source.NVD, BASE, "sha256:" + "1" * 64, "nvd.nist.gov"),
    )


def synthetic_advisories(count: int, *, seed: int = 7) -> Iterator[Advisory]:
    """Half OSV-like, half NVD-like advisories, deterministic for ``seed``."""
    rng = random.Random(seed)
    for i in range(count):
        yield osv_advisory(i, rng) if i % 2 == 0 else nvd_advisory(i, rng)
