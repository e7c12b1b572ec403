"""Property tests: generated documents parse to the facts they state; garbage never passes."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.core.ecosystems import normalize_name
from medwarden.errors import IntelParseError
from medwarden.intel.sources import (
    parse_cve5,
    parse_epss_csv,
    parse_kev_csv,
    parse_kev_json,
    parse_nvd,
    parse_osv,
)
from tests.strategies_intel import (
    cve5_records,
    epss_rows,
    json_values,
    kev_entries,
    nvd_cves,
    osv_records,
)

FETCHED = datetime(2026, 1, 1, tzinfo=UTC)


def _outcome(call: Callable[[], list[Any]]) -> list[Any] | IntelParseError:
    """Run a parser; return its records or the IntelParseError it raised (others propagate)."""
    try:
        return call()
    except IntelParseError as error:
        return error


@given(osv_records())
def test_osv_round_trip(record: dict[str, Any]) -> None:
    """Ids, aliases, names, events (in order), versions and CWEs survive parsing."""
    (advisory,) = parse_osv(orjson.dumps(record), fetched_at=FETCHED)
    assert advisory.id == record["id"]
    assert list(advisory.aliases) == record["aliases"]
    assert advisory.is_withdrawn == ("withdrawn" in record)
    assert list(advisory.cwes) == record["database_specific"]["cwe_ids"]
    assert len(advisory.affected) == len(record["affected"])
    for parsed, raw in zip(advisory.affected, record["affected"], strict=True):
        family = raw["package"]["ecosystem"].partition(":")[0]
        assert parsed.name == normalize_name(family, raw["package"]["name"])
        assert list(parsed.versions) == raw["versions"]
        for prange, rrange in zip(parsed.ranges, raw["ranges"], strict=True):
            assert prange.type.value == rrange["type"]
            assert [{e.kind.value: e.version} for e in prange.events] == rrange["events"]


@given(nvd_cves())
def test_nvd_round_trip(cve: dict[str, Any]) -> None:
    """Ids, rejection, scores and configuration shapes survive parsing, alone or in a page."""
    page = {
        "resultsPerPage": 1,
        "startIndex": 0,
        "totalResults": 1,
        "vulnerabilities": [{"cve": cve}],
    }
    for document in (cve, page):
        (advisory,) = parse_nvd(orjson.dumps(document), fetched_at=FETCHED)
        assert advisory.id == cve["id"]
        assert advisory.is_withdrawn == (cve["vulnStatus"] == "Rejected")
        assert len(advisory.severities) == len(cve["metrics"]["cvssMetricV31"])
        configs = cve.get("configurations", [])
        assert [[len(n.matches) for n in c.nodes] for c in advisory.configurations] == [
            [len(n["cpeMatch"]) for n in c["nodes"]] for c in configs
        ]
        assert [c.operator for c in advisory.configurations] == [
            c.get("operator", "OR") for c in configs
        ]


@given(cve5_records())
def test_cve5_round_trip(record: dict[str, Any]) -> None:
    """Each affected entry with an affected version becomes a package; REJECTED is withdrawn."""
    (advisory,) = parse_cve5(orjson.dumps(record), fetched_at=FETCHED)
    meta = record["cveMetadata"]
    assert advisory.id == meta["cveId"]
    assert advisory.is_withdrawn == (meta["state"] == "REJECTED")
    assert len(advisory.affected) == len(record["containers"]["cna"]["affected"])
    for parsed, raw in zip(advisory.affected, record["containers"]["cna"]["affected"], strict=True):
        affected = [v for v in raw["versions"] if v["status"] == "affected"]
        ranged = [v for v in affected if "lessThan" in v]
        assert len(parsed.versions) == len(affected) - len(ranged)
        events = parsed.ranges[0].events if parsed.ranges else ()
        assert [e.version for e in events] == [
            x for v in ranged for x in (v["version"], v["lessThan"])
        ]


@given(st.lists(kev_entries, min_size=1, max_size=10))
def test_kev_json_and_csv_round_trip(entries: list[dict[str, str]]) -> None:
    """The same entries written as KEV JSON and as KEV CSV parse to equal values."""
    as_json = parse_kev_json(orjson.dumps({"catalogVersion": "1", "vulnerabilities": entries}))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(entries[0]))
    writer.writeheader()
    writer.writerows(entries)
    as_csv = parse_kev_csv(buffer.getvalue().encode())
    assert as_json == as_csv
    assert [e.cve_id for e in as_json] == [e["cveID"] for e in entries]


@given(epss_rows)
def test_epss_round_trip_plain_and_gzip(rows: list[tuple[str, float, float]]) -> None:
    """Scores survive a CSV round trip, plain and gzip-compressed alike."""
    text = "#model_version:v1,score_date:2024-05-06T00:00:00Z\ncve,epss,percentile\n"
    text += "".join(f"{c},{s!r},{p!r}\n" for c, s, p in rows)
    plain = parse_epss_csv(text.encode())
    assert [(s.cve_id, s.score, s.percentile) for s in plain] == rows
    assert parse_epss_csv(gzip.compress(text.encode())) == plain


@pytest.mark.parametrize("parser", [parse_osv, parse_nvd, parse_cve5])
@given(value=json_values)
def test_arbitrary_json_parses_or_fails_cleanly(parser: Any, value: Any) -> None:
    """Arbitrary JSON gives records or an IntelParseError, never another error or silent []."""
    records = _outcome(lambda: parser(orjson.dumps(value), fetched_at=FETCHED, origin="fuzz.json"))
    if isinstance(records, IntelParseError):
        assert records.location is not None
        assert records.location.source == "fuzz.json"
        return
    if not records:  # only an NVD API page may legitimately list no CVEs
        assert parser is parse_nvd
        assert value.get("vulnerabilities") == []


@given(st.binary(max_size=200))
def test_random_bytes_never_pass_silently(data: bytes) -> None:
    """Random bytes are an IntelParseError for every parser (or, rarely, valid records)."""
    for parser in (parse_osv, parse_nvd, parse_cve5):
        assert _outcome(lambda p=parser: p(data, fetched_at=FETCHED))  # type: ignore[misc]
    for csv_parser in (parse_kev_csv, parse_epss_csv, parse_kev_json):
        assert _outcome(lambda p=csv_parser: p(data))  # type: ignore[misc]


@given(osv_records(), st.data())
def test_damaged_osv_records_fail_cleanly(record: dict[str, Any], data: st.DataObject) -> None:
    """Replacing any top-level field with a wrong type yields records or an IntelParseError."""
    key = data.draw(st.sampled_from(sorted(record)))
    record[key] = data.draw(st.sampled_from([1, "x", [], {}, None, [1], True]))
    outcome = _outcome(lambda: parse_osv(orjson.dumps(record), fetched_at=FETCHED))
    if isinstance(outcome, IntelParseError):
        assert outcome.location is not None
