"""CSAF 2.0 advisories (security advisories, VEX documents) as published by vendors.

Reference: https://docs.oasis-open.org/csaf/csaf/v2.0/csaf-v2.0.html

Each ``vulnerabilities[]`` entry becomes one :class:`Advisory` whose id names the
document and the vulnerability — ``<publisher namespace host>/<tracking id>#<cve>``
(``#<index>`` without a CVE) — so that advisories of several vendors about one CVE are
all kept (the store keeps one record per id), and whose aliases hold the CVE and the
entry's ``ids``: the CVE links them to the NVD/OSV records of the same vulnerability.
The product tree is walked (branches, full product names, relationships) to find
each product's ``purl``/``cpe`` helper and its branch path.  Products under
``known_affected``, ``first_affected`` and ``last_affected`` become criteria:

* a purl with a version -> an :class:`AffectedPackage` listing that exact version;
* a purl without a version under a ``product_version_range`` branch whose ``vers:``
  string uses only ``>=``, ``<``, ``<=``, ``=`` and ``*`` -> an ``ECOSYSTEM`` range;
* otherwise a CPE -> a configuration with one ``OR`` node holding that CPE.

``fixed``, ``known_not_affected`` and ``under_investigation`` products give no
criteria.  Products that cannot be mapped are counted (:class:`CsafResult`), not fatal.
The document's tracking id is not an alias: tracking ids name documents, are not
unique across publishers and would fold every CVE of one document into one group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from packageurl import PackageURL

from medwarden.core.cpe import CpeError, parse_cpe
from medwarden.core.ecosystems import PurlError, package_key_for_purl
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
from medwarden.intel.sources._fields import (
    Ctx,
    load_json,
    opt_list,
    opt_obj,
    opt_str,
    opt_time,
    reference_urls,
    req_obj,
    req_str,
    req_time,
    str_list,
)
from medwarden.intel.sources.base import make_provenance

__all__ = [
    "AFFECTED_STATUSES",
    "CsafResult",
    "looks_like_csaf",
    "parse_csaf",
    "parse_csaf_document",
    "parse_csaf_result",
]

AFFECTED_STATUSES = ("known_affected", "first_affected", "last_affected")
"""``product_status`` lists whose products are affected (the others are ignored)."""

_SCORES: tuple[tuple[str, SeverityType], ...] = (
    ("cvss_v3", SeverityType.CVSS_V3),
    ("cvss_v2", SeverityType.CVSS_V2),
)
_VERS_EVENTS = {">=": EventKind.INTRODUCED, "<": EventKind.FIXED, "<=": EventKind.LAST_AFFECTED}
_MAX_RELATIONSHIP_HOPS = 16


@dataclass(frozen=True, slots=True)
class _Product:
    """What the product tree says about one product id."""

    purl: str | None = None
    cpe: str | None = None
    version_range: str | None = None
    reference: str | None = None  # a relationship's product_reference


@dataclass(slots=True)
class CsafResult:
    """The advisories of one CSAF document and how many affected products had no criteria."""

    advisories: list[Advisory] = field(default_factory=list)
    unmapped: int = 0


def parse_csaf(data: bytes, *, fetched_at: datetime, origin: str | None = None) -> list[Advisory]:
    """Parse one CSAF 2.0 JSON document."""
    provenance = make_provenance(Source.CSAF, data, fetched_at=fetched_at, origin=origin)
    return parse_csaf_document(load_json(data, Ctx(origin)), provenance=provenance)


def looks_like_csaf(document: Any) -> bool:
    """Whether a decoded JSON value is a CSAF 2.0 document."""
    if type(document) is not dict:
        return False
    header = document.get("document")
    return type(header) is dict and header.get("csaf_version") == "2.0"


def parse_csaf_document(document: Any, *, provenance: Provenance) -> list[Advisory]:
    """Parse a decoded CSAF 2.0 document; a document without vulnerabilities gives ``[]``."""
    return parse_csaf_result(document, provenance=provenance).advisories


def parse_csaf_result(document: Any, *, provenance: Provenance) -> CsafResult:
    """Parse a decoded CSAF 2.0 document and count the affected products left unmapped."""
    ctx = Ctx(provenance.origin)
    root = req_obj(document, ctx, "")
    header = req_obj(root.get("document"), ctx, "/document")
    if header.get("csaf_version") != "2.0":
        raise ctx.error("/document", "unsupported or missing CSAF version", "csaf_version")
    tracking = req_obj(header.get("tracking"), ctx, "/document/tracking")
    where = "/document/tracking"
    tracking_id = req_str(tracking, "id", ctx, where)
    publisher = opt_obj(header, "publisher", ctx, "/document")
    namespace = opt_str(publisher, "namespace", ctx, "/document/publisher")
    host = urlsplit(namespace).netloc.removeprefix("www.") if namespace else ""
    document_id = f"{host}/{tracking_id}" if host else tracking_id
    doc = _Document(
        modified=req_time(tracking, "current_release_date", ctx, where),
        published=opt_time(tracking, "initial_release_date", ctx, where),
        status=opt_str(tracking, "status", ctx, where),
        title=opt_str(header, "title", ctx, "/document"),
        publisher=opt_str(publisher, "name", ctx, "/document/publisher"),
        references=reference_urls(
            opt_list(header, "references", ctx, "/document"), ctx, "/document"
        ),
    )
    products = _product_tree(opt_obj(root, "product_tree", ctx, ""), ctx)
    result = CsafResult()
    for index, item in enumerate(opt_list(root, "vulnerabilities", ctx, "")):
        pointer = f"/vulnerabilities/{index}"
        vuln = req_obj(item, ctx, pointer)
        cve = opt_str(vuln, "cve", ctx, pointer)
        advisory_id = f"{document_id}#{cve or index}"
        affected, configurations, unmapped = _criteria(
            opt_obj(vuln, "product_status", ctx, pointer), products, ctx, pointer
        )
        result.unmapped += unmapped
        result.advisories.append(
            _advisory(vuln, advisory_id, doc, affected, configurations, provenance, ctx, pointer)
        )
    return result


@dataclass(frozen=True, slots=True)
class _Document:
    modified: datetime
    published: datetime | None
    status: str | None
    title: str | None
    publisher: str | None
    references: tuple[str, ...]


def _advisory(
    vuln: dict[str, Any],
    advisory_id: str,
    doc: _Document,
    affected: tuple[AffectedPackage, ...],
    configurations: tuple[CpeConfiguration, ...],
    provenance: Provenance,
    ctx: Ctx,
    pointer: str,
) -> Advisory:
    notes = _notes(opt_list(vuln, "notes", ctx, pointer), ctx, pointer)
    cve = opt_str(vuln, "cve", ctx, pointer)
    aliases = tuple(
        dict.fromkeys(
            [
                *([cve] if cve else []),
                *(
                    req_str(
                        req_obj(entry, ctx, f"{pointer}/ids/{i}"), "text", ctx, f"{pointer}/ids/{i}"
                    )
                    for i, entry in enumerate(opt_list(vuln, "ids", ctx, pointer))
                ),
            ]
        )
    )
    own = reference_urls(opt_list(vuln, "references", ctx, pointer), ctx, pointer)
    cwe = opt_obj(vuln, "cwe", ctx, pointer)
    cwe_id = opt_str(cwe, "id", ctx, f"{pointer}/cwe")
    return Advisory(
        id=advisory_id,
        source=Source.CSAF,
        modified=doc.modified,
        aliases=tuple(a for a in aliases if a != advisory_id),
        summary=notes.get("summary") or opt_str(vuln, "title", ctx, pointer) or doc.title,
        details=notes.get("description"),
        published=doc.published,
        severities=_severities(opt_list(vuln, "scores", ctx, pointer), doc, ctx, pointer),
        affected=affected,
        configurations=configurations,
        references=tuple(dict.fromkeys((*own, *doc.references))),
        cwes=(cwe_id,) if cwe_id else (),
        status=doc.status,
        provenance=provenance,
    )


def _notes(items: list[Any], ctx: Ctx, pointer: str) -> dict[str, str]:
    """The first text of each note category (``summary``, ``description``...)."""
    out: dict[str, str] = {}
    for index, item in enumerate(items):
        where = f"{pointer}/notes/{index}"
        note = req_obj(item, ctx, where)
        category = opt_str(note, "category", ctx, where)
        text = opt_str(note, "text", ctx, where)
        if category and text:
            out.setdefault(category, text)
    return out


def _severities(items: list[Any], doc: _Document, ctx: Ctx, pointer: str) -> tuple[Severity, ...]:
    out: dict[Severity, None] = {}
    for index, item in enumerate(items):
        where = f"{pointer}/scores/{index}"
        score = req_obj(item, ctx, where)
        for key, kind in _SCORES:
            cvss = opt_obj(score, key, ctx, where)
            if not cvss:
                continue
            vector = req_str(cvss, "vectorString", ctx, f"{where}/{key}")
            base = cvss.get("baseScore")
            if base is not None and (type(base) is not float and type(base) is not int):
                raise ctx.error(f"{where}/{key}", "expected a number", "baseScore")
            out[Severity(kind, vector, None if base is None else float(base), doc.publisher)] = None
    return tuple(out)


def _product_tree(tree: dict[str, Any], ctx: Ctx) -> dict[str, _Product]:
    """Map every product id of the product tree to its helpers and version range."""
    products: dict[str, _Product] = {}
    _branches(tree, products, None, ctx, "/product_tree")
    for index, item in enumerate(opt_list(tree, "full_product_names", ctx, "/product_tree")):
        _product(item, products, None, ctx, f"/product_tree/full_product_names/{index}")
    for index, item in enumerate(opt_list(tree, "relationships", ctx, "/product_tree")):
        where = f"/product_tree/relationships/{index}"
        relationship = req_obj(item, ctx, where)
        reference = req_str(relationship, "product_reference", ctx, where)
        req_str(relationship, "relates_to_product_reference", ctx, where)
        _product(relationship.get("full_product_name"), products, None, ctx, where, reference)
    return products


def _branches(
    node: dict[str, Any],
    products: dict[str, _Product],
    version_range: str | None,
    ctx: Ctx,
    pointer: str,
) -> None:
    for index, item in enumerate(opt_list(node, "branches", ctx, pointer)):
        where = f"{pointer}/branches/{index}"
        branch = req_obj(item, ctx, where)
        category = opt_str(branch, "category", ctx, where)
        name = opt_str(branch, "name", ctx, where)
        inner = name if category == "product_version_range" else version_range
        if branch.get("product") is not None:
            _product(branch["product"], products, inner, ctx, where + "/product")
        _branches(branch, products, inner, ctx, where)


def _product(
    value: Any,
    products: dict[str, _Product],
    version_range: str | None,
    ctx: Ctx,
    pointer: str,
    reference: str | None = None,
) -> None:
    where = pointer if reference is None else pointer + "/full_product_name"
    product = req_obj(value, ctx, where)
    product_id = req_str(product, "product_id", ctx, where)
    helper = opt_obj(product, "product_identification_helper", ctx, where)
    where += "/product_identification_helper"
    products[product_id] = _Product(
        purl=opt_str(helper, "purl", ctx, where),
        cpe=opt_str(helper, "cpe", ctx, where),
        version_range=version_range,
        reference=reference,
    )


def _resolve(product_id: str, products: dict[str, _Product]) -> _Product | None:
    """The product itself, or for a relationship the product it refers to."""
    product = products.get(product_id)
    for _hop in range(_MAX_RELATIONSHIP_HOPS):
        if product is None or product.purl or product.cpe or product.reference is None:
            return product
        product = products.get(product.reference)
    return None


def _criteria(
    status: dict[str, Any], products: dict[str, _Product], ctx: Ctx, pointer: str
) -> tuple[tuple[AffectedPackage, ...], tuple[CpeConfiguration, ...], int]:
    packages: dict[tuple[str, str], list[AffectedPackage]] = {}
    configurations: dict[CpeConfiguration, None] = {}
    unmapped = 0
    where = pointer + "/product_status"
    ids = dict.fromkeys(
        pid for key in AFFECTED_STATUSES for pid in str_list(status, key, ctx, where)
    )
    for product_id in ids:
        product = _resolve(product_id, products)
        package = _package(product) if product is not None else None
        if package is not None:
            packages.setdefault((package.ecosystem, package.name), []).append(package)
            continue
        configuration = _configuration(product.cpe) if product and product.cpe else None
        if configuration is None:
            unmapped += 1
        else:
            configurations[configuration] = None
    return tuple(_merge(group) for group in packages.values()), tuple(configurations), unmapped


def _package(product: _Product) -> AffectedPackage | None:
    if not product.purl:
        return None
    try:
        parsed = PackageURL.from_string(product.purl)
        key = package_key_for_purl(parsed)
    except (ValueError, PurlError):
        return None
    ecosystem = key.osv_ecosystem
    if parsed.version:
        qualifiers = parsed.qualifiers if isinstance(parsed.qualifiers, dict) else {}
        epoch = qualifiers.get("epoch")
        version = parsed.version
        if epoch and ":" not in version:
            version = f"{epoch}:{version}"
        return AffectedPackage(ecosystem, key.name, versions=(version,), purl=product.purl)
    if product.version_range is None:
        return None
    parsed_range = _vers(product.version_range)
    if parsed_range is None:
        return None
    ranges, versions = parsed_range
    return AffectedPackage(ecosystem, key.name, ranges, versions, purl=product.purl)


def _vers(text: str) -> tuple[tuple[VersionRange, ...], tuple[str, ...]] | None:
    """A simple ``vers:`` string as an ECOSYSTEM range plus exact versions, else ``None``."""
    if not text.startswith("vers:"):
        return None
    _scheme, slash, body = text[len("vers:") :].partition("/")
    if not slash or not body.strip():
        return None
    events: list[RangeEvent] = []
    versions: list[str] = []
    opened = False
    for raw in body.split("|"):
        constraint = raw.strip()
        if constraint == "*":
            return (
                VersionRange(RangeType.ECOSYSTEM, (RangeEvent(EventKind.INTRODUCED, "0"),)),
            ), ()
        operator = next((op for op in ("<=", ">=", "<", "=") if constraint.startswith(op)), "")
        version = unquote(constraint[len(operator) :].strip())
        if not version or (operator in ("", "=") and version[0] in "<>!="):
            return None
        if operator in ("", "="):
            versions.append(version)
            continue
        kind = _VERS_EVENTS[operator]
        if kind is EventKind.INTRODUCED:
            if opened:
                return None
            opened = True
        elif not opened:
            events.append(RangeEvent(EventKind.INTRODUCED, "0"))
        else:
            opened = False
        events.append(RangeEvent(kind, version))
    ranges = (VersionRange(RangeType.ECOSYSTEM, tuple(events)),) if events else ()
    return ranges, tuple(versions)


def _configuration(cpe: str) -> CpeConfiguration | None:
    try:
        criteria = str(parse_cpe(cpe))
    except CpeError:
        return None
    return CpeConfiguration(nodes=(CpeNode("OR", (CpeMatch(criteria, vulnerable=True),)),))


def _merge(group: list[AffectedPackage]) -> AffectedPackage:
    """One entry per (ecosystem, name): the union of versions and ranges."""
    first = group[0]
    if len(group) == 1:
        return first
    purls = {p.purl for p in group}
    return AffectedPackage(
        ecosystem=first.ecosystem,
        name=first.name,
        ranges=tuple(dict.fromkeys(r for p in group for r in p.ranges)),
        versions=tuple(dict.fromkeys(v for p in group for v in p.versions)),
        purl=first.purl if len(purls) == 1 else None,
    )
