"""Component identities: stable across releases, distinct when matching could differ."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from medwarden.portfolio.identity import identify
from medwarden.sbom.model import Component

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
versions = st.from_regex(r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}", fullmatch=True)


@given(names, versions, st.text(max_size=8), st.text(max_size=8))
def test_ref_supplier_and_properties_do_not_change_the_identity(
    name: str, version: str, ref: str, supplier: str
) -> None:
    purl = f"pkg:npm/{name}@{version}"
    a = Component(ref="a", name=name, version=version, purl=purl)
    b = Component(
        ref=ref or "b",
        name=name,
        version=version,
        purl=purl,
        supplier=supplier,
        properties=(("levelOfSupport", "abandoned"),),
    )
    assert identify(a).digest == identify(b).digest


@given(names, versions, versions)
def test_another_version_is_another_identity(name: str, v1: str, v2: str) -> None:
    a = identify(Component(ref="a", name=name, version=v1, purl=f"pkg:npm/{name}@{v1}"))
    b = identify(Component(ref="a", name=name, version=v2, purl=f"pkg:npm/{name}@{v2}"))
    assert (a.digest == b.digest) == (v1 == v2)
    assert a.package_key == b.package_key == ("npm", name)


def test_cpe_order_does_not_matter_and_keys_are_extracted() -> None:
    one = "cpe:2.3:a:zlib:zlib:1.2.13:*:*:*:*:*:*:*"
    two = "cpe:2.3:a:gnu:zlib:1.2.13:*:*:*:*:*:*:*"
    a = identify(Component(ref="a", name="zlib", version="1.2.13", cpes=(one, two)))
    b = identify(Component(ref="b", name="zlib", version="1.2.13", cpes=(two, one, one)))
    assert a.digest == b.digest
    assert a.cpe_keys == {("zlib", "zlib"), ("gnu", "zlib")}
    assert a.package_key is None


def test_unusable_components_carry_their_skip_reason() -> None:
    ident = identify(Component(ref="x", name="thing", purl="pkg:npm/thing"))
    assert [s.reason.value for s in ident.skipped] == ["no-version"]
    assert ident.package_key is None
