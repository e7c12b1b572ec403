"""From a domain advisory to the rows of the advisory table and its index tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from medwarden.core.clock import ensure_utc
from medwarden.core.cpe import CpeError, parse_cpe
from medwarden.core.ecosystems import normalize_name, split_ecosystem
from medwarden.errors import IntelParseError, Location
from medwarden.intel.model import Advisory
from medwarden.store.codec import encode_advisory

__all__ = [
    "EncodedAdvisory",
    "advisory_row",
    "alias_rows",
    "cpe_keys",
    "cpe_rows",
    "encode_advisories",
    "package_rows",
]

Row = dict[str, Any]


class EncodedAdvisory(NamedTuple):
    """An advisory in its stored form: columns, payload and index keys, all plain data.

    Encoding is pure and needs no database, so a parallel load does it in the worker
    processes that parse; what crosses the process boundary pickles cheaply (strings,
    bytes, datetimes), and the writer only runs inserts.
    """

    source: str
    record_id: str
    modified: datetime
    withdrawn: bool
    row: Row
    packages: tuple[tuple[str, str, str], ...]
    cpes: tuple[tuple[str, str, bool], ...]
    aliases: tuple[str, ...]


def encode_advisories(batch: Sequence[Advisory]) -> list[EncodedAdvisory]:
    """Encode every advisory of ``batch`` (see :class:`EncodedAdvisory`)."""
    return [
        EncodedAdvisory(
            adv.source.value,
            adv.id,
            ensure_utc(adv.modified),
            adv.withdrawn is not None,
            advisory_row(adv),
            _package_keys(adv),
            tuple(cpe_keys(adv)),
            tuple(a for a in dict.fromkeys(adv.aliases) if a != adv.id),
        )
        for adv in batch
    ]


def advisory_row(adv: Advisory) -> Row:
    """The ``advisory`` columns (without ``pk``) for ``adv``, payload encoded."""
    prov = adv.provenance
    return {
        "record_id": adv.id,
        "source": adv.source.value,
        "modified": ensure_utc(adv.modified),
        "published": adv.published,
        "withdrawn": adv.withdrawn,
        "status": adv.status,
        "summary": adv.summary,
        "payload": encode_advisory(adv),
        "fetched_at": None if prov is None else prov.fetched_at,
        "digest": None if prov is None else prov.digest,
        "origin": None if prov is None else prov.origin,
        "license": None if prov is None else prov.license,
    }


def _package_keys(adv: Advisory) -> tuple[tuple[str, str, str], ...]:
    seen: dict[tuple[str, str], str] = {}
    for pkg in adv.affected:
        family = split_ecosystem(pkg.ecosystem)[0]
        seen.setdefault((pkg.ecosystem, normalize_name(family, pkg.name)), family)
    return tuple((eco, name, family) for (eco, name), family in seen.items())


def package_rows(pk: int, enc: EncodedAdvisory) -> list[Row]:
    """One ``advisory_package`` row per distinct (ecosystem, name) of the advisory."""
    return [
        {"advisory_pk": pk, "ecosystem": eco, "name": name, "family": family}
        for eco, name, family in enc.packages
    ]


@lru_cache(maxsize=65_536)
def _fast_vendor_product(criteria: str) -> tuple[str, str] | None:
    if "\\" not in criteria and criteria.startswith("cpe:2.3:"):
        fields = criteria.split(":")
        if len(fields) == 13:
            return (fields[3].lower() or "*", fields[4].lower() or "*")
    return None


def _vendor_product(criteria: str, record_id: str) -> tuple[str, str]:
    fast = _fast_vendor_product(criteria)
    if fast is not None:
        return fast
    try:
        return parse_cpe(criteria).key
    except CpeError as exc:
        raise IntelParseError(
            f"advisory {record_id} names a malformed CPE: {criteria!r}",
            location=Location(source=record_id),
        ) from exc


def cpe_keys(adv: Advisory) -> set[tuple[str, str, bool]]:
    """The (vendor, product, platform) keys of ``adv``'s configurations.

    Vulnerable criteria give ``platform=False``; non-vulnerable criteria of ``AND``
    configurations (the platform the software runs on) give ``platform=True``.
    """
    keys: set[tuple[str, str, bool]] = set()
    for config in adv.configurations:
        for node in config.nodes:
            for match in node.matches:
                if match.vulnerable or config.operator == "AND":
                    vendor, product = _vendor_product(match.criteria, adv.id)
                    keys.add((vendor, product, not match.vulnerable))
    return keys


def cpe_rows(pk: int, enc: EncodedAdvisory) -> list[Row]:
    """The ``advisory_cpe`` rows of the advisory."""
    return [
        {"advisory_pk": pk, "vendor": v, "product": p, "platform": platform}
        for v, p, platform in enc.cpes
    ]


def alias_rows(pk: int, enc: EncodedAdvisory) -> list[Row]:
    """Alias edges of the advisory in both directions (its id <-> each alias)."""
    rows: list[Row] = []
    for other in enc.aliases:
        rows.append({"advisory_pk": pk, "a": enc.record_id, "b": other})
        rows.append({"advisory_pk": pk, "a": other, "b": enc.record_id})
    return rows
