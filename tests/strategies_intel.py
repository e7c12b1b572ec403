"""Hypothesis strategies for vulnerability intelligence documents (OSV, NVD, CVE 5, KEV, EPSS).

Each strategy draws a *valid* document as a plain JSON-ready value; property tests
serialise it, parse it and compare the facts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

_ID_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-"
_VERSION_CHARS = "0123456789.abcrc-+~"

ids = st.text(_ID_CHARS, min_size=3, max_size=20).map(lambda s: "X-" + s)
versions = st.text(_VERSION_CHARS, min_size=1, max_size=12)
texts = st.text(min_size=1, max_size=40)
times = st.datetimes(
    min_value=datetime(1990, 1, 1),  # noqa: DTZ001 - hypothesis bounds must be naive
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
names = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./@:", min_size=1, max_size=30
)
ecosystems = st.sampled_from(["npm", "PyPI", "Go", "Maven", "NuGet", "Debian:12", "Alpine:v3.18"])
cwes = st.integers(1, 2000).map(lambda n: f"CWE-{n}")


def iso(value: datetime) -> str:
    """OSV style: ``2024-01-02T03:04:05Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def nvd_time(value: datetime) -> str:
    """NVD style: no zone, milliseconds."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"


events = st.lists(
    st.tuples(st.sampled_from(["introduced", "fixed", "last_affected", "limit"]), versions).map(
        lambda kv: {kv[0]: kv[1]}
    ),
    min_size=1,
    max_size=6,
)


@st.composite
def osv_records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid OSV 1.6 record."""
    affected = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "package": st.fixed_dictionaries({"ecosystem": ecosystems, "name": names}),
                    "ranges": st.lists(
                        st.fixed_dictionaries(
                            {
                                "type": st.sampled_from(["SEMVER", "ECOSYSTEM", "GIT"]),
                                "events": events,
                            }
                        ),
                        max_size=2,
                    ),
                    "versions": st.lists(versions, max_size=4),
                }
            ),
            max_size=3,
        )
    )
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": draw(ids),
        "modified": iso(draw(times)),
        "aliases": draw(st.lists(ids, max_size=3, unique=True)),
        "affected": affected,
        "references": [
            {"type": "WEB", "url": u} for u in draw(st.lists(texts, max_size=3, unique=True))
        ],
        "database_specific": {"cwe_ids": draw(st.lists(cwes, max_size=2))},
        "severity": [{"type": "CVSS_V3", "score": s} for s in draw(st.lists(texts, max_size=2))],
    }
    for key, strategy in (
        ("published", times.map(iso)),
        ("withdrawn", times.map(iso)),
        ("summary", texts),
    ):
        if draw(st.booleans()):
            record[key] = draw(strategy)
    return record


cpe_matches = st.fixed_dictionaries(
    {
        "vulnerable": st.booleans(),
        "criteria": names.map(lambda n: f"cpe:2.3:a:v:{n}:*:*:*:*:*:*:*:*"),
    },
    optional={"versionEndExcluding": versions, "versionStartIncluding": versions},
)
nodes = st.fixed_dictionaries(
    {
        "operator": st.sampled_from(["OR", "AND"]),
        "negate": st.booleans(),
        "cpeMatch": st.lists(cpe_matches, min_size=1, max_size=3),
    }
)
configurations = st.fixed_dictionaries(
    {"nodes": st.lists(nodes, min_size=1, max_size=3)},
    optional={"operator": st.sampled_from(["OR", "AND"])},
)


@st.composite
def nvd_cves(draw: st.DrawFn) -> dict[str, Any]:
    """A valid NVD CVE API 2.0 ``cve`` object."""
    cve: dict[str, Any] = {
        "id": draw(ids),
        "published": nvd_time(draw(times)),
        "lastModified": nvd_time(draw(times)),
        "vulnStatus": draw(st.sampled_from(["Analyzed", "Modified", "Rejected", "Received"])),
        "descriptions": [{"lang": "en", "value": draw(texts)}],
        "metrics": {
            "cvssMetricV31": [
                {
                    "source": draw(texts),
                    "type": draw(st.sampled_from(["Primary", "Secondary"])),
                    "cvssData": {"vectorString": draw(texts), "baseScore": draw(st.floats(0, 10))},
                }
                for _ in range(draw(st.integers(0, 2)))
            ]
        },
        "weaknesses": [
            {"source": "nvd", "type": "Primary", "description": [{"lang": "en", "value": c}]}
            for c in draw(st.lists(cwes, max_size=2, unique=True))
        ],
        "references": [{"url": u} for u in draw(st.lists(texts, max_size=3, unique=True))],
    }
    if draw(st.booleans()):
        cve["configurations"] = draw(st.lists(configurations, max_size=3))
    return cve


_COLLECTIONS = {
    "https://pypi.org": "PyPI",
    "https://pkg.go.dev": "Go",
    "https://registry.npmjs.org": "npm",
}

cve5_versions = st.fixed_dictionaries(
    {"version": versions, "status": st.sampled_from(["affected", "unaffected"])},
    optional={"lessThan": versions},
)


@st.composite
def cve5_records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid CVE JSON 5.1 record with package-registry affected entries."""
    affected = [
        {
            "collectionURL": draw(st.sampled_from(sorted(_COLLECTIONS))),
            "packageName": draw(names),
            "versions": draw(st.lists(cve5_versions, max_size=4)),
        }
        for _ in range(draw(st.integers(0, 3)))
    ]
    return {
        "dataType": "CVE_RECORD",
        "dataVersion": "5.1",
        "cveMetadata": {
            "cveId": draw(ids),
            "state": draw(st.sampled_from(["PUBLISHED", "REJECTED"])),
            "dateUpdated": iso(draw(times)),
        },
        "containers": {
            "cna": {
                "descriptions": [{"lang": "en", "value": draw(texts)}],
                "rejectedReasons": [{"lang": "en", "value": draw(texts)}],
                "affected": affected,
            }
        },
    }


kev_entries = st.fixed_dictionaries(
    {
        "cveID": st.integers(1000, 99999).map(lambda n: f"CVE-2024-{n}"),
        "vendorProject": texts.filter(lambda t: "\r" not in t and "\n" not in t),
        "product": texts.filter(lambda t: "\r" not in t and "\n" not in t),
        "vulnerabilityName": texts.filter(lambda t: "\r" not in t and "\n" not in t),
        "dateAdded": times.map(lambda t: t.strftime("%Y-%m-%d")),
        "dueDate": times.map(lambda t: t.strftime("%Y-%m-%d")),
    }
)

epss_rows = st.lists(
    st.tuples(
        st.integers(1000, 99999).map(lambda n: f"CVE-2023-{n}"),
        st.floats(0, 1, allow_nan=False),
        st.floats(0, 1, allow_nan=False),
    ),
    min_size=1,
    max_size=20,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["id", "modified", "affected", "cve", "vulnerabilities", "cveMetadata", "x"]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=15,
)
"""Arbitrary JSON, biased towards the keys the parsers look at."""
