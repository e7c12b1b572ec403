"""Installed base, where-used and end-of-support data on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from medwarden.errors import NotFoundError, UsageError
from medwarden.portfolio.installed import read_installed_base
from medwarden.services.support import end_of_support_report
from medwarden.store import SqlStore
from tests.portfolio_helpers import cdx, clock_at, imported, make_product, npm

BASE = b"""device_id,product,version,site
SN-1,pump,1.0,Ward 3
SN-2,pump,1.0,Ward 3
SN-3,pump,2.0,Home
"""


def _setup(store: SqlStore) -> None:
    clock = clock_at()
    make_product(store, "pump", "1.0", "2.0", clock=clock)
    make_product(store, "meter", "7", clock=clock)
    imported(store, "pump", "1.0", cdx(npm("lodash", "4.17.15"), npm("ms", "2.1.3")), clock)
    imported(store, "pump", "2.0", cdx(npm("lodash", "4.17.21"), npm("ms", "2.1.3")), clock)
    imported(store, "meter", "7", cdx(npm("ms", "2.1.3")), clock)


def test_installed_base_counts_units_per_release(store: SqlStore) -> None:
    """REQUIREMENTS 29 and 61: which devices run component X version Y."""
    _setup(store)
    clock = clock_at(day=2)
    counts = store.portfolio.import_installed_base(
        read_installed_base(BASE), actor="reg", at=clock.now(), source="base.csv"
    )
    assert counts == {"units": 3, "new": 3, "updated": 0}
    used = store.portfolio.where_used(name="ms", version="2.1.3")
    assert [(u.product, u.release, u.units) for u in used] == [
        ("meter", "7", 0),
        ("pump", "1.0", 2),
        ("pump", "2.0", 1),
    ]
    assert [
        (u.release, u.units) for u in store.portfolio.where_used(purl="pkg:npm/lodash@4.17.15")
    ] == [("1.0", 2)]
    # SN-2 is updated to 2.0: moved, not duplicated
    moved = store.portfolio.import_installed_base(
        read_installed_base(b"device_id,product,version\nSN-2,pump,2.0\n"),
        actor="reg",
        at=clock.now(),
        source="update.csv",
    )
    assert moved == {"units": 1, "new": 0, "updated": 1}
    assert [(u.release, u.units) for u in store.portfolio.where_used(name="lodash")] == [
        ("1.0", 1),
        ("2.0", 2),
    ]
    assert [e.action for e in store.audit.events()][-2:] == ["portfolio.installed_base_import"] * 2


def test_installed_base_with_an_unknown_release_stores_nothing(store: SqlStore) -> None:
    _setup(store)
    data = BASE + b"SN-9,pump,9.9,Lab\n"
    with pytest.raises(NotFoundError, match="unknown release"):
        store.portfolio.import_installed_base(
            read_installed_base(data), actor="reg", at=clock_at().now(), source="bad.csv"
        )
    assert all(u.units == 0 for u in store.portfolio.where_used(name="ms"))
    with pytest.raises(UsageError):
        store.portfolio.where_used()


def test_end_of_support_report_from_sbom_properties(store: SqlStore) -> None:
    clock = clock_at()
    make_product(store, "pump", "1.0", clock=clock)
    sbom = cdx(
        npm(
            "zlib-wrapper", "1.0.0", levelOfSupport="actively maintained", endOfSupport="2026-12-31"
        ),
        npm(
            "old-lib", "0.1.0", levelOfSupport="abandoned", supportJustification="archived upstream"
        ),
        npm("fresh", "9.0.0", levelOfSupport="actively maintained", endOfSupport="2031-01-01"),
        npm("plain", "1.0.0"),
    )
    imported(store, "pump", "1.0", sbom, clock)
    report = end_of_support_report(store.portfolio, today=date(2026, 11, 22))
    assert [(i.component, i.end_of_support) for i in report] == [
        ("old-lib@0.1.0", None),
        ("zlib-wrapper@1.0.0", date(2026, 12, 31)),
    ]
    assert "abandoned" in report[0].reason


def test_incomplete_support_data_refuses_the_import(store: SqlStore) -> None:
    clock = clock_at()
    make_product(store, "pump", "1.0", clock=clock)
    with pytest.raises(UsageError, match="support data"):
        imported(store, "pump", "1.0", cdx(npm("x", "1.0.0", levelOfSupport="abandoned")), clock)
    assert store.portfolio.revisions("pump", "1.0") == []
