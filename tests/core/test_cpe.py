"""CPE 2.3 names: parsing, quoting and attribute comparison (NISTIR 7695/7696)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.core.cpe import ANY, NA, Cpe, CpeError, Relation, compare_attribute, parse_cpe


def test_formatted_string_is_parsed_lower_case() -> None:
    """A formatted string gives its 11 attributes, lower-cased."""
    cpe = parse_cpe("cpe:2.3:a:ZLIB:zlib:1.2.12:*:*:*:*:*:*:*")
    assert (cpe.part, cpe.vendor, cpe.product, cpe.version) == ("a", "zlib", "zlib", "1.2.12")
    assert cpe.update == ANY
    assert cpe.key == ("zlib", "zlib")


def test_quoted_colon_stays_in_the_value() -> None:
    """An escaped colon belongs to the attribute, not a separator."""
    cpe = parse_cpe(r"cpe:2.3:a:acme:pump\:fw:1.0:*:*:*:*:*:*:*")
    assert cpe.product == "pump:fw"
    assert parse_cpe(str(cpe)) == cpe


def test_uri_binding_is_accepted() -> None:
    """A CPE 2.2 URI maps onto the same attributes, missing ones ANY."""
    assert parse_cpe("cpe:/a:apache:log4j:2.0") == Cpe("a", "apache", "log4j", "2.0")


@pytest.mark.parametrize(
    "text",
    [
        "cpe:2.3:a:zlib:zlib:1.2.12",  # too few attributes
        "cpe:2.3:x:zlib:zlib:1:*:*:*:*:*:*:*",  # bad part
        "cpe:/q:vendor:product",  # bad part in a URI
        "zlib 1.2.12",
        "cpe:2.3:a:zlib:zlib:1\\",  # dangling escape
    ],
)
def test_malformed_names_are_refused(text: str) -> None:
    """Anything that is not a CPE name raises CpeError."""
    with pytest.raises(CpeError):
        parse_cpe(text)


@pytest.mark.parametrize(
    ("source", "target", "relation"),
    [
        (ANY, "1.0", Relation.SUPERSET),
        ("1.0", ANY, Relation.SUBSET),
        ("1.0", "1.0", Relation.EQUAL),
        (NA, "1.0", Relation.DISJOINT),
        ("1.0", NA, Relation.DISJOINT),
        ("1.*", "1.4", Relation.SUPERSET),
        ("1.0", "2.0", Relation.DISJOINT),
    ],
)
def test_attribute_relations(source: str, target: str, relation: Relation) -> None:
    """Attribute comparison follows NISTIR 7696 table 6-2 for the values NVD uses."""
    assert compare_attribute(source, target) is relation


_value = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.-:!~", min_size=1, max_size=12)


@given(st.tuples(st.sampled_from("aoh"), _value, _value, _value))
def test_formatting_round_trips(parts: tuple[str, str, str, str]) -> None:
    """Formatting a parsed name and parsing it again gives the same name, quoting included."""
    cpe = Cpe(*parts)
    assert parse_cpe(str(cpe)) == cpe
