"""Malformed intelligence raises IntelParseError with a location; nothing reads as empty."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from medwarden.errors import IntelParseError
from medwarden.intel.sources import (
    parse_cve5,
    parse_epss_csv,
    parse_kev_csv,
    parse_kev_json,
    parse_nvd,
    parse_osv,
)

FETCHED = datetime(2026, 1, 2, tzinfo=UTC)
INTEL = Path(__file__).parents[1] / "fixtures" / "intel"


def _doc(relative: str) -> dict:  # type: ignore[type-arg]
    return orjson.loads((INTEL / relative).read_bytes())  # type: ignore[no-any-return]


def _error(parser, value: object, origin: str = "x.json") -> IntelParseError:  # type: ignore[no-untyped-def]
    data = value if isinstance(value, bytes) else orjson.dumps(value)
    with pytest.raises(IntelParseError) as info:
        parser(data, fetched_at=FETCHED, origin=origin)
    return info.value


def test_truncated_json_names_file_and_line() -> None:
    """A truncated OSV file fails with the file name and a line number."""
    data = (INTEL / "osv" / "GO-2022-0493.json").read_bytes()[:500]
    error = _error(parse_osv, data, origin="cut.json")
    assert error.location is not None
    assert error.location.source == "cut.json"
    assert error.location.line is not None
    assert "cut.json" in error.diagnostics()


def test_osv_missing_id_is_located() -> None:
    """An OSV record without id fails at the id pointer."""
    doc = _doc("osv/GO-2022-0493.json")
    del doc["id"]
    assert _error(parse_osv, doc).location.pointer == "/id"  # type: ignore[union-attr]


def test_osv_wrong_type_in_event_is_located() -> None:
    """A numeric event version fails at the event's JSON pointer."""
    doc = _doc("osv/GO-2022-0493.json")
    doc["affected"][1]["ranges"][0]["events"][1] = {"fixed": 3}
    error = _error(parse_osv, doc)
    assert error.location.pointer == "/affected/1/ranges/0/events/1/fixed"  # type: ignore[union-attr]


def test_osv_bad_date_is_located() -> None:
    """An unparseable modified date fails at /modified."""
    doc = _doc("osv/GHSA-w3h3-4rj7-4ph4.json")
    doc["modified"] = "yesterday"
    error = _error(parse_osv, doc)
    assert error.location.pointer == "/modified"  # type: ignore[union-attr]
    assert "timestamp" in error.message


def test_osv_unknown_range_type_fails() -> None:
    """An unknown range type is an error, not a silently dropped range."""
    doc = _doc("osv/GHSA-w3h3-4rj7-4ph4.json")
    doc["affected"][0]["ranges"][0]["type"] = "CALVER"
    assert _error(parse_osv, doc).location.pointer == "/affected/0/ranges/0/type"  # type: ignore[union-attr]


@pytest.mark.parametrize("garbage", [[], {}, [1, 2], "text", 42, None, {"hello": "world"}])
def test_osv_garbage_is_never_empty(garbage: object) -> None:
    """JSON that is no OSV document raises rather than returning no records."""
    _error(parse_osv, garbage)


def test_nvd_page_with_wrong_item_type() -> None:
    """An NVD page whose second item's cve is a string fails at that item's pointer."""
    doc = _doc("nvd/CVE-2024-3094.json")
    doc["vulnerabilities"].append({"cve": "CVE-2024-0001"})
    assert _error(parse_nvd, doc).location.pointer == "/vulnerabilities/1/cve"  # type: ignore[union-attr]


def test_nvd_missing_last_modified() -> None:
    """An NVD cve without lastModified fails at /lastModified."""
    doc = _doc("nvd/CVE-2022-37434.json")
    del doc["lastModified"]
    assert _error(parse_nvd, doc).location.pointer == "/lastModified"  # type: ignore[union-attr]


def test_nvd_bad_configuration_operator() -> None:
    """A node operator other than AND/OR fails at the node."""
    doc = _doc("nvd/CVE-2022-37434.json")
    doc["configurations"][4]["nodes"][1]["operator"] = "XOR"
    error = _error(parse_nvd, doc)
    assert error.location.pointer == "/configurations/4/nodes/1/operator"  # type: ignore[union-attr]


@pytest.mark.parametrize("garbage", [{}, [], {"id": "CVE-1"}, "x"])
def test_nvd_garbage(garbage: object) -> None:
    """JSON that is no NVD document raises."""
    _error(parse_nvd, garbage)


def test_cve5_missing_metadata() -> None:
    """A CVE 5 record without cveMetadata fails at /cveMetadata."""
    doc = _doc("cve5/CVE-2021-44228.json")
    del doc["cveMetadata"]
    assert _error(parse_cve5, doc).location.pointer == "/cveMetadata"  # type: ignore[union-attr]


def test_cve5_rejected_is_withdrawn() -> None:
    """A REJECTED CVE 5 record is withdrawn and summarised by its rejection reason."""
    doc = _doc("cve5/CVE-2021-44228.json")
    doc["cveMetadata"]["state"] = "REJECTED"
    doc["containers"]["cna"]["rejectedReasons"] = [{"lang": "en", "value": "Duplicate."}]
    (advisory,) = parse_cve5(orjson.dumps(doc), fetched_at=FETCHED)
    assert advisory.withdrawn is not None
    assert advisory.summary == "Duplicate."


def test_nvd_rejected_is_withdrawn() -> None:
    """An NVD record with vulnStatus Rejected is withdrawn at its lastModified time."""
    doc = _doc("nvd/CVE-2022-37434.json")
    doc["vulnStatus"] = "Rejected"
    (advisory,) = parse_nvd(orjson.dumps(doc), fetched_at=FETCHED)
    assert advisory.withdrawn == advisory.modified


def test_kev_json_missing_cve_id() -> None:
    """A KEV entry without cveID fails at its pointer."""
    doc = _doc("kev/known_exploited_vulnerabilities.json")
    del doc["vulnerabilities"][3]["cveID"]
    with pytest.raises(IntelParseError) as info:
        parse_kev_json(orjson.dumps(doc), origin="kev.json")
    assert info.value.location.pointer == "/vulnerabilities/3/cveID"  # type: ignore[union-attr]


def test_kev_csv_bad_date_names_line() -> None:
    """A KEV CSV row with a bad dateAdded fails naming its line."""
    lines = (INTEL / "kev" / "known_exploited_vulnerabilities.csv").read_bytes().splitlines()
    bad = lines[2].replace(b",2025-08-25,", b",someday,", 1)
    with pytest.raises(IntelParseError) as info:
        parse_kev_csv(b"\n".join([lines[0], lines[1], bad]), origin="kev.csv")
    assert info.value.location.line == 3  # type: ignore[union-attr]


def test_kev_csv_without_header() -> None:
    """A CSV without the KEV columns is refused."""
    with pytest.raises(IntelParseError):
        parse_kev_csv(b"a,b,c\n1,2,3\n")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (b"cve,epss,percentile\nCVE-1,0.5\n", 2),
        (b"cve,epss,percentile\nCVE-1,0.5,1.5\n", 2),
        (b"cve,epss,percentile\nCVE-1,abc,0.1\n", 2),
        (b"#model_version:v1,score_date:2024-01-01\ncve,epss,percentile\nCVE-1,1,nan\n", 3),
        (b"no header\n", 1),
        (b"", 1),
    ],
)
def test_epss_bad_rows(text: bytes, line: int) -> None:
    """Short rows, scores outside [0, 1], non-numbers and missing headers fail with a line."""
    with pytest.raises(IntelParseError) as info:
        parse_epss_csv(text, origin="epss.csv")
    assert info.value.location.line == line  # type: ignore[union-attr]


def test_epss_corrupt_gzip() -> None:
    """A truncated gzip stream is an IntelParseError, not an OSError."""
    with pytest.raises(IntelParseError):
        parse_epss_csv(b"\x1f\x8b\x08\x00garbage")
