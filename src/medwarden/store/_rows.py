"""From a domain advisory to the rows of the advisory table and its index tables."""

from __future__ import annotations

from typing import Any

from medwarden.core.clock import ensure_utc
from medwarden.core.cpe import CpeError, parse_cpe
from medwarden.core.ecosystems import normalize_name, split_ecosystem
from medwarden.errors import IntelParseError, Location
from medwarden.intel.model import Advisory
from medwarden.store.codec import encode_advisory

__all__ = ["advisory_row", "alias_rows", "cpe_keys", "cpe_rows", "package_rows"]

Row = dict[str, Any]


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


def package_rows(pk: int, adv: Advisory) -> list[Row]:
    """One ``advisory_package`` row per distinct (ecosystem, name) of ``adv.affected``."""
    seen: dict[tuple[str, str], str] = {}
    for pkg in adv.affected:
        family = split_ecosystem(pkg.ecosystem)[0]
        seen.setdefault((pkg.ecosystem, normalize_name(family, pkg.name)), family)
    return [
        {"advisory_pk": pk, "ecosystem": eco, "name": name, "family": family}
        for (eco, name), family in seen.items()
    ]


def _vendor_product(criteria: str, record_id: str) -> tuple[str, str]:
    if "\\" not in criteria and criteria.startswith("cpe:2.3:"):
        fields = criteria.split(":")
        if len(fields) == 13:
            return (fields[3].lower() or "*", fields[4].lower() or "*")
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


def cpe_rows(pk: int, adv: Advisory) -> list[Row]:
    """The ``advisory_cpe`` rows of ``adv``."""
    return [
        {"advisory_pk": pk, "vendor": v, "product": p, "platform": platform}
        for v, p, platform in cpe_keys(adv)
    ]


def alias_rows(pk: int, adv: Advisory) -> list[Row]:
    """Alias edges of ``adv`` in both directions (``adv.id`` <-> each alias)."""
    rows: list[Row] = []
    for other in dict.fromkeys(adv.aliases):
        if other != adv.id:
            rows.append({"advisory_pk": pk, "a": adv.id, "b": other})
            rows.append({"advisory_pk": pk, "a": other, "b": adv.id})
    return rows
