"""Package URLs to the (ecosystem, name, release) keys advisories are filed under."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.core.ecosystems import PurlError, normalize_name, package_key_for_purl


@pytest.mark.parametrize(
    ("purl", "key"),
    [
        ("pkg:npm/%40babel/core@7.0.0", ("npm", "@babel/core", "")),
        ("pkg:pypi/Django_Rest.Framework@3", ("PyPI", "django-rest-framework", "")),
        ("pkg:maven/org.yaml/snakeyaml@1.33", ("Maven", "org.yaml:snakeyaml", "")),
        ("pkg:golang/golang.org/x/text@v0.3.7", ("Go", "golang.org/x/text", "")),
        ("pkg:composer/Laravel/Framework@v7.30.6", ("Packagist", "laravel/framework", "")),
        (
            "pkg:deb/debian/libssl1.1@1.1.1n?upstream=openssl&distro=debian-9",
            ("Debian", "openssl", "9"),
        ),
        (
            "pkg:apk/alpine/zlib@1.2.12-r1?upstream=zlib&distro=alpine-3.17.2",
            ("Alpine", "zlib", "v3.17"),
        ),
        ("pkg:deb/ubuntu/pcre3@2:8.39?distro=ubuntu-20.04", ("Ubuntu", "pcre3", "20.04")),
    ],
)
def test_keys(purl: str, key: tuple[str, str, str]) -> None:
    """Each ecosystem's naming: Maven group:artifact, npm scope, PEP 503, source packages."""
    found = package_key_for_purl(purl)
    assert (found.ecosystem, found.name, found.release) == key


def test_osv_ecosystem_string_carries_the_release() -> None:
    """A distribution key prints as OSV writes it, ``Debian:9``."""
    assert package_key_for_purl("pkg:deb/debian/zlib@1?distro=debian-9").osv_ecosystem == "Debian:9"


@pytest.mark.parametrize("purl", ["pkg:oci/kubectl@sha256:abc", "pkg:rpm/centos/bash@4", "npm/x"])
def test_unknown_or_malformed_purls_raise(purl: str) -> None:
    """An unknown purl type or a malformed purl raises PurlError."""
    with pytest.raises(PurlError):
        package_key_for_purl(purl)


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True))
def test_pypi_normalisation_is_idempotent(name: str) -> None:
    """PEP 503 normalisation of a normalised name changes nothing."""
    once = normalize_name("PyPI", name)
    assert normalize_name("PyPI", once) == once
    assert once == once.lower()
