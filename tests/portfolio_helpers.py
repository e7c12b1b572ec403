"""Helpers for portfolio tests: tiny CycloneDX SBOMs, selective intelligence loads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medwarden.core.clock import FixedClock
from medwarden.portfolio.model import ProductSpec, ReleaseSpec
from medwarden.services.intel_load import load_paths
from medwarden.services.portfolio import ImportOutcome, import_sbom, reevaluate
from medwarden.store import SqlStore
from tests.conftest import FIXTURES

OSV = FIXTURES / "intel" / "osv"
NVD = FIXTURES / "intel" / "nvd"
KEV_JSON = FIXTURES / "intel" / "kev" / "known_exploited_vulnerabilities.json"

LODASH_23337 = OSV / "GHSA-35jh-r3h4-6jhm.json"  # lodash < 4.17.21, CVE-2021-23337
LODASH_8203 = OSV / "GHSA-p6mc-m468-83gw.json"  # lodash < 4.17.20, CVE-2020-8203
MOMENT_24785 = OSV / "GHSA-8hfj-j24r-96c4.json"  # moment < 2.29.2, CVE-2022-24785
MOMENT_31129 = OSV / "GHSA-wc69-rhjr-hc9g.json"  # moment 2.18.0 - 2.29.4, CVE-2022-31129
MINIMIST_44906 = OSV / "GHSA-xvch-5gv4-984h.json"  # minimist 1.0.0 - 1.2.6, CVE-2021-44906


def npm(name: str, version: str, **properties: str) -> dict[str, Any]:
    """A CycloneDX component for an npm package, with optional properties."""
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": f"pkg:npm/{name}@{version}",
        "name": name,
        "version": version,
        "purl": f"pkg:npm/{name}@{version}",
    }
    if properties:
        component["properties"] = [{"name": k, "value": v} for k, v in properties.items()]
    return component


def cdx(*components: dict[str, Any], serial: str | None = None) -> bytes:
    """A CycloneDX 1.6 JSON SBOM holding ``components``."""
    document: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "components": list(components),
    }
    if serial:
        document["serialNumber"] = serial
    return json.dumps(document).encode()


def clock_at(day: int = 1, hour: int = 0) -> FixedClock:
    """A fixed clock in December 2026."""
    return FixedClock(datetime(2026, 12, day, hour, tzinfo=UTC))


def tick(clock: FixedClock, seconds: int = 60) -> datetime:
    """Move ``clock`` forward and return the new time."""
    from datetime import timedelta

    clock.set(clock.now() + timedelta(seconds=seconds))
    return clock.now()


def make_product(store: SqlStore, slug: str, *versions: str, clock: FixedClock) -> None:
    """A product with releases ``versions``."""
    store.portfolio.create_product(ProductSpec(slug, slug.title()), actor="alice", at=clock.now())
    for version in versions:
        store.portfolio.create_release(slug, ReleaseSpec(version), actor="alice", at=clock.now())


def load(store: SqlStore, *paths: Path, clock: FixedClock) -> None:
    """Load intelligence files (no re-evaluation)."""
    load_paths(store, list(paths), clock=clock, workers=0)


def imported(
    store: SqlStore, slug: str, version: str, data: bytes, clock: FixedClock
) -> ImportOutcome:
    """Import ``data`` as the next SBOM revision of ``slug``@``version``."""
    tick(clock)
    return import_sbom(store.portfolio, store, slug, version, data, actor="alice", clock=clock)


def reevaluated(store: SqlStore, clock: FixedClock):  # type: ignore[no-untyped-def]
    """Re-evaluate after intelligence changed."""
    tick(clock)
    return reevaluate(store.portfolio, store, actor="monitor", clock=clock)
