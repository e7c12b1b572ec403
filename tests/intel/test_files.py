"""iter_intel loads files, trees, gzip and OSV zips by content, deterministically and bounded."""

from __future__ import annotations

import gzip
import io
import shutil
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from medwarden.errors import InputTooLargeError, IntelParseError
from medwarden.intel.files import LoadLimits, iter_intel
from medwarden.intel.model import Advisory, EpssScore, KevEntry, Source

FETCHED = datetime(2026, 1, 2, tzinfo=UTC)
FIXTURES = Path(__file__).parents[1] / "fixtures"
INTEL = FIXTURES / "intel"
GO_ZIP = FIXTURES / "recorded" / "osv" / "Go" / "all.zip"


def test_whole_fixture_tree_loads_deterministically() -> None:
    """The fixture tree yields every record, in the same order on every run."""
    first = list(iter_intel(INTEL, fetched_at=FETCHED))
    second = list(iter_intel(INTEL, fetched_at=FETCHED))
    assert first == second
    kinds = Counter(r.source if isinstance(r, Advisory) else type(r).__name__ for r in first)
    assert kinds == {
        Source.NVD: 32,
        Source.CVE5: 7,
        Source.OSV: 49,
        "KevEntry": 2 * 1404,
        "EpssScore": 22,
    }


def test_go_zip_loads_all_records() -> None:
    """The real Go vulndb all.zip yields its 4,291 records, 17 of them withdrawn."""
    records = list(iter_intel(GO_ZIP, fetched_at=FETCHED))
    assert len(records) == 4291
    advisories = [r for r in records if isinstance(r, Advisory)]
    assert len(advisories) == 4291
    assert sum(a.is_withdrawn for a in advisories) == 17
    first = advisories[0]
    assert first.id == "GO-2020-0001"
    assert first.provenance is not None
    assert first.provenance.origin == f"{GO_ZIP}!data/osv/GO-2020-0001.json"


def test_zip_member_digest_is_of_member_bytes() -> None:
    """A zip member's provenance digest is the SHA-256 of that member's bytes."""
    import hashlib

    with zipfile.ZipFile(GO_ZIP) as archive:
        data = archive.read("data/osv/GO-2022-0493.json")
    record = next(
        r
        for r in iter_intel(GO_ZIP, fetched_at=FETCHED)
        if isinstance(r, Advisory) and r.id == "GO-2022-0493"
    )
    assert record.provenance is not None
    assert record.provenance.digest == hashlib.sha256(data).hexdigest()


def test_format_is_sniffed_not_named(tmp_path: Path) -> None:
    """Files with misleading names are parsed by content."""
    shutil.copy(INTEL / "nvd" / "CVE-2022-37434.json", tmp_path / "feed.csv")
    shutil.copy(INTEL / "epss" / "epss_scores-subset.csv", tmp_path / "scores.json")
    records = list(iter_intel(tmp_path, fetched_at=FETCHED))
    assert isinstance(records[0], Advisory)
    assert all(isinstance(r, EpssScore) for r in records[1:])


def test_gzip_files(tmp_path: Path) -> None:
    """.json.gz and .csv.gz are decompressed on the fly."""
    kev = (INTEL / "kev" / "known_exploited_vulnerabilities.json").read_bytes()
    (tmp_path / "kev.json.gz").write_bytes(gzip.compress(kev))
    epss = (INTEL / "epss" / "epss_scores-subset.csv").read_bytes()
    (tmp_path / "scores.csv.gz").write_bytes(gzip.compress(epss))
    records = list(iter_intel(tmp_path, fetched_at=FETCHED))
    assert sum(isinstance(r, KevEntry) for r in records) == 1404
    assert sum(isinstance(r, EpssScore) for r in records) == 22


def test_unknown_file_names_the_file(tmp_path: Path) -> None:
    """A JSON file of no known format raises an IntelParseError naming it."""
    path = tmp_path / "schema.json"
    shutil.copy(Path("/work/shared/corpus/kev/known_exploited_vulnerabilities_schema.json"), path)
    with pytest.raises(IntelParseError) as info:
        list(iter_intel(tmp_path, fetched_at=FETCHED))
    assert str(path) in info.value.diagnostics()


def test_text_garbage_fails(tmp_path: Path) -> None:
    """A text file that is neither KEV nor EPSS CSV is refused."""
    path = tmp_path / "notes.csv"
    path.write_text("hello,world\n")
    with pytest.raises(IntelParseError):
        list(iter_intel(path, fetched_at=FETCHED))


def test_directories_skip_hidden_and_other_files(tmp_path: Path) -> None:
    """Hidden files and non-intel extensions (README.md) in a tree are ignored."""
    (tmp_path / "README.md").write_text("# notes")
    (tmp_path / ".cache.json").write_text("garbage")
    shutil.copy(INTEL / "osv" / "GO-2022-0493.json", tmp_path / "a.json")
    assert [r.id for r in iter_intel(tmp_path, fetched_at=FETCHED)] == ["GO-2022-0493"]  # type: ignore[union-attr]


def test_missing_path_fails(tmp_path: Path) -> None:
    """A path that does not exist is an IntelParseError naming it."""
    with pytest.raises(IntelParseError):
        list(iter_intel(tmp_path / "absent", fetched_at=FETCHED))


def test_oversized_zip_is_refused() -> None:
    """A zip over max_zip_bytes is refused before reading."""
    with pytest.raises(InputTooLargeError):
        list(iter_intel(GO_ZIP, fetched_at=FETCHED, limits=LoadLimits(max_zip_bytes=1024)))


def test_oversized_file_is_refused() -> None:
    """A JSON file over max_file_bytes is refused before reading."""
    path = INTEL / "kev" / "known_exploited_vulnerabilities.json"
    with pytest.raises(InputTooLargeError):
        list(iter_intel(path, fetched_at=FETCHED, limits=LoadLimits(max_file_bytes=100)))


def test_zip_bomb_member_is_refused(tmp_path: Path) -> None:
    """A zip member inflating beyond max_member_bytes is refused."""
    path = tmp_path / "all.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.json", b"[" + b" " * 100_000 + b"]")
    with pytest.raises(InputTooLargeError):
        list(iter_intel(path, fetched_at=FETCHED, limits=LoadLimits(max_member_bytes=1000)))


def test_gzip_bomb_is_refused(tmp_path: Path) -> None:
    """A gzip file inflating beyond max_decompressed_bytes is refused."""
    path = tmp_path / "big.json.gz"
    path.write_bytes(gzip.compress(b" " * 100_000))
    with pytest.raises(InputTooLargeError):
        list(iter_intel(path, fetched_at=FETCHED, limits=LoadLimits(max_decompressed_bytes=1000)))


def test_corrupt_zip_member(tmp_path: Path) -> None:
    """A zip whose member data is damaged fails with an IntelParseError naming the member."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.json", (INTEL / "osv" / "GO-2022-0493.json").read_bytes())
    data = bytearray(buffer.getvalue())
    data[60:80] = b"\x00" * 20
    path = tmp_path / "all.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(IntelParseError) as info:
        list(iter_intel(path, fetched_at=FETCHED))
    assert "x.json" in info.value.diagnostics()


def test_recorded_nvd_pages_load() -> None:
    """The recorded NVD API pages load as 32 NVD advisories."""
    records = list(iter_intel(FIXTURES / "recorded" / "nvd", fetched_at=FETCHED))
    assert len(records) == 32
    assert all(isinstance(r, Advisory) and r.source is Source.NVD for r in records)
