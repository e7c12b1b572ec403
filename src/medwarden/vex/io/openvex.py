"""OpenVEX JSON reader (https://github.com/openvex/spec/blob/main/OPENVEX-SPEC.md).

Accepts v0.0.1 forms (vulnerability as a string, products and subcomponents as
string lists) and v0.2.0 forms (vulnerability and product objects with
``identifiers`` and per-product ``subcomponents``).  A statement's timestamp
defaults to the document's.
"""

from __future__ import annotations

from typing import Any

from medwarden.vex.io._fields import Cursor
from medwarden.vex.model import ProductRef, VexJustification, VexStatement, VexStatus

__all__ = ["parse_openvex"]

_IDENTIFIER_KEYS = ("purl", "cpe23", "cpe22")


def parse_openvex(document: Any, *, source: str) -> tuple[VexStatement, ...]:
    """Parse an OpenVEX document (already decoded from JSON) into statements."""
    root = Cursor(document, source)
    root.obj()
    default_time = root.opt_time("timestamp")
    statements = root.need("statements").items()
    if not statements:
        raise root.error("OpenVEX document has no statements", "statements")
    return tuple(_statement(s, source, default_time) for s in statements)


def _statement(node: Cursor, source: str, default_time: Any) -> VexStatement:
    node.obj()
    name, aliases = _vulnerability(node.need("vulnerability"))
    status_node = node.need("status")
    status_text = status_node.text()
    try:
        status = VexStatus(status_text)
    except ValueError:
        raise status_node.error(f"unknown OpenVEX status {status_text!r}") from None
    shared_subs = _identifier_list(node.get("subcomponents"))
    products = tuple(_product(p, shared_subs) for p in node.need("products").items())
    if not products:
        raise node.error("statement names no product", "products")
    justification, raw_justification = _justification(node)
    notes = [node.opt_text("status_notes"), node.opt_text("action_statement")]
    return VexStatement(
        vulnerability=name,
        aliases=aliases,
        products=products,
        status=status,
        justification=justification,
        impact_statement=node.opt_text("impact_statement"),
        detail="; ".join(n for n in notes if n) or None,
        document=source,
        timestamp=node.opt_time("timestamp") or default_time,
        source_status=status_text,
        source_justification=raw_justification,
    )


def _vulnerability(node: Cursor) -> tuple[str, tuple[str, ...]]:
    if isinstance(node.value, str):
        return node.text(), ()
    name_node = node.get("name") or node.need("@id")
    aliases_node = node.get("aliases")
    aliases = tuple(a.text() for a in aliases_node.items()) if aliases_node else ()
    return name_node.text(), aliases


def _justification(node: Cursor) -> tuple[VexJustification | None, str | None]:
    found = node.get("justification")
    if found is None:
        return None, None
    text = found.text()
    try:
        return VexJustification(text), text
    except ValueError:
        raise found.error(f"unknown OpenVEX justification {text!r}") from None


def _identifiers(node: Cursor) -> tuple[str, ...]:
    if isinstance(node.value, str):
        return (node.text(),)
    ids: list[str] = []
    at_id = node.opt_text("@id")
    if at_id:
        ids.append(at_id)
    extra = node.get("identifiers")
    if extra is not None:
        ids.extend(t for key in _IDENTIFIER_KEYS if (t := extra.opt_text(key)) and t not in ids)
    if not ids:
        raise node.error("product has neither @id nor identifiers")
    return tuple(ids)


def _identifier_list(node: Cursor | None) -> tuple[tuple[str, ...], ...]:
    return () if node is None else tuple(_identifiers(s) for s in node.items())


def _product(node: Cursor, shared_subs: tuple[tuple[str, ...], ...]) -> ProductRef:
    own_subs = () if isinstance(node.value, str) else _identifier_list(node.get("subcomponents"))
    return ProductRef(identifiers=_identifiers(node), subcomponents=own_subs or shared_subs)
