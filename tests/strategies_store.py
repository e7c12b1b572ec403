"""Hypothesis strategies for the intelligence domain values the store persists."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

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

# PostgreSQL text cannot hold NUL; surrogates are not UTF-8.
text = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
    max_size=20,
)
maybe_text = st.none() | text
timestamps = st.datetimes(
    # hypothesis wants naive bounds when it attaches the zones itself
    min_value=datetime(1990, 1, 1, tzinfo=UTC).replace(tzinfo=None),
    max_value=datetime(2100, 1, 1, tzinfo=UTC).replace(tzinfo=None),
    timezones=st.just(UTC),
)
ident = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
record_ids = st.from_regex(
    r"(CVE-20[0-9]{2}-[0-9]{4,6}|GHSA-[a-z0-9]{4}|GO-20[0-9]{2}-[0-9]{4})", fullmatch=True
)

provenances = st.builds(
    Provenance, st.sampled_from(Source), timestamps, text, maybe_text, maybe_text
)
range_events = st.builds(RangeEvent, st.sampled_from(EventKind), text)
version_ranges = st.builds(
    VersionRange, st.sampled_from(RangeType), st.lists(range_events, max_size=3).map(tuple)
)
affected_packages = st.builds(
    AffectedPackage,
    ecosystem=st.sampled_from(["npm", "PyPI", "Go", "Debian:12", "Maven", "crates.io"]),
    name=ident,
    ranges=st.lists(version_ranges, max_size=2).map(tuple),
    versions=st.lists(text, max_size=3).map(tuple),
    purl=maybe_text,
)
cpe_criteria = st.builds(
    lambda part, vendor, product: f"cpe:2.3:{part}:{vendor}:{product}:*:*:*:*:*:*:*:*",
    st.sampled_from("aoh"),
    ident,
    ident,
)
cpe_matches = st.builds(
    CpeMatch, cpe_criteria, st.booleans(), maybe_text, maybe_text, maybe_text, maybe_text
)
cpe_nodes = st.builds(
    CpeNode,
    st.sampled_from(["OR", "AND"]),
    st.lists(cpe_matches, max_size=3).map(tuple),
    st.booleans(),
)
configurations = st.builds(
    CpeConfiguration,
    st.lists(cpe_nodes, max_size=2).map(tuple),
    st.sampled_from(["OR", "AND"]),
    st.booleans(),
)
severities = st.builds(
    Severity,
    st.sampled_from(SeverityType),
    text,
    st.none() | st.floats(0, 10, allow_nan=False),
    maybe_text,
)

advisories = st.builds(
    Advisory,
    id=record_ids,
    source=st.sampled_from([Source.NVD, Source.CVE5, Source.OSV]),
    modified=timestamps,
    aliases=st.lists(record_ids, max_size=3).map(tuple),
    summary=maybe_text,
    details=maybe_text,
    published=st.none() | timestamps,
    withdrawn=st.none() | timestamps,
    severities=st.lists(severities, max_size=2).map(tuple),
    affected=st.lists(affected_packages, max_size=2).map(tuple),
    configurations=st.lists(configurations, max_size=2).map(tuple),
    references=st.lists(text, max_size=2).map(tuple),
    cwes=st.lists(text, max_size=2).map(tuple),
    status=maybe_text,
    provenance=st.none() | provenances,
)
"""Arbitrary domain advisories whose CPE criteria are well-formed."""
