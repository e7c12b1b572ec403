"""KEV entries and EPSS scores carry the provenance of the file they were read from."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from medwarden.core.digests import sha256_hex
from medwarden.intel.files import iter_intel
from medwarden.intel.model import EpssScore, KevEntry, Source
from medwarden.intel.sources import parse_epss_csv, parse_kev_json

FIXTURES = Path(__file__).parents[1] / "fixtures" / "intel"
NOW = datetime(2026, 11, 25, tzinfo=UTC)


def test_loaded_kev_entries_name_their_file_and_digest() -> None:
    """Every KEV entry loaded from the catalog file carries its source, time, digest, origin."""
    path = FIXTURES / "kev" / "known_exploited_vulnerabilities.json"
    entries = [r for r in iter_intel(path, fetched_at=NOW) if isinstance(r, KevEntry)]
    assert len(entries) == 1404
    provenances = {e.provenance for e in entries}
    (provenance,) = provenances
    assert provenance is not None
    assert (provenance.source, provenance.fetched_at) == (Source.KEV, NOW)
    assert provenance.digest == sha256_hex(path.read_bytes())
    assert provenance.origin == str(path)


def test_loaded_epss_scores_carry_provenance() -> None:
    """EPSS scores read from the CSV carry the CSV's digest."""
    path = FIXTURES / "epss" / "epss_scores-subset.csv"
    scores = [r for r in iter_intel(path, fetched_at=NOW) if isinstance(r, EpssScore)]
    assert scores
    assert all(s.provenance is not None for s in scores)
    assert {s.provenance.digest for s in scores if s.provenance} == {sha256_hex(path.read_bytes())}


def test_bytes_parsers_attach_provenance_only_when_told_the_fetch_time() -> None:
    """parse_kev_json/parse_epss_csv add provenance when given fetched_at, none otherwise."""
    kev = (FIXTURES / "kev" / "known_exploited_vulnerabilities.json").read_bytes()
    assert parse_kev_json(kev)[0].provenance is None
    assert parse_kev_json(kev, origin="feed", fetched_at=NOW)[0].provenance is not None
    epss = (FIXTURES / "epss" / "epss_scores-subset.csv").read_bytes()
    assert parse_epss_csv(epss)[0].provenance is None
    assert parse_epss_csv(epss, fetched_at=NOW)[0].provenance is not None
