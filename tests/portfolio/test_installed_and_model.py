"""Installed-base files, product ids and specs, finding queries, notices."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from medwarden.errors import InputError, UsageError
from medwarden.intel.cvss import SeverityRating
from medwarden.notify.model import NotificationKind
from medwarden.portfolio.findings import FindingQuery
from medwarden.portfolio.installed import read_installed_base
from medwarden.portfolio.model import ProductSpec, ReleaseSpec, check_slug
from medwarden.portfolio.notices import FindingGroup, kev_notices, new_finding_notices

AT = datetime(2026, 12, 1, tzinfo=UTC)


def test_installed_base_csv() -> None:
    units = read_installed_base(
        b"\xef\xbb\xbfdevice_id,product,version,site,reported_at\n"
        b"SN-1,pump,1.0,Ward 3,2026-11-30T10:00:00Z\nSN-2,pump,2.0,,\n"
    )
    assert [(u.device_id, u.version, u.site) for u in units] == [
        ("SN-1", "1.0", "Ward 3"),
        ("SN-2", "2.0", None),
    ]
    assert units[0].reported_at == datetime(2026, 11, 30, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"device,product\nx,y\n", "lacks the column"),
        (b"device_id,product,version\nSN-1,,1.0\n", "line 2 has no product"),
        (b"device_id,product,version,reported_at\nSN-1,p,1,yesterday\n", "ISO 8601"),
        (b"device_id,product,version,reported_at\nSN-1,p,1,2026-01-01T00:00:00\n", "time zone"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_malformed_installed_base_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_installed_base(data)


@pytest.mark.parametrize("slug", ["", "Pump", "-pump", "pump-", "a" * 65, "pump x", "pump/1"])
def test_bad_product_ids(slug: str) -> None:
    with pytest.raises(UsageError):
        check_slug(slug)


def test_specs_check_their_values() -> None:
    with pytest.raises(UsageError, match="too short"):
        ProductSpec("pump", "Pump", monitoring_interval_s=5)
    with pytest.raises(UsageError):
        ProductSpec("pump", " ")
    with pytest.raises(UsageError):
        ReleaseSpec("")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": 501},
        {"state": "closed"},
        {"status": "done"},
        {"release": "1.0"},
        {"new_since": datetime(2026, 1, 1)},  # noqa: DTZ001 - the point of the test
    ],
)
def test_bad_finding_queries(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        FindingQuery(**kwargs)  # type: ignore[arg-type]


def test_notices_group_and_dedupe() -> None:
    group = FindingGroup(
        "pump",
        "CVE-1",
        SeverityRating.HIGH.rank,
        12,
        tuple(f"{i}.0" for i in range(7)),
        41,
        "CVE-1",
    )
    [note] = new_finding_notices([group], AT)
    assert note.kind is NotificationKind.NEW_FINDING
    assert note.severity is SeverityRating.HIGH
    assert "and 2 more" in note.subject
    assert note.dedupe_key == "new_finding:pump:CVE-1:41"
    [kev] = kev_notices([group], AT, 9)
    assert kev.kind is NotificationKind.KEV_ADDITION
    assert kev.dedupe_key == "kev:pump:CVE-1:9"
    assert kev.payload["releases"] == [f"{i}.0" for i in range(7)]
