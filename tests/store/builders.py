"""Small hand-built domain values for store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from medwarden.intel.model import (
    Advisory,
    AffectedPackage,
    CpeConfiguration,
    CpeMatch,
    CpeNode,
    EventKind,
    RangeEvent,
    RangeType,
    Source,
    VersionRange,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def osv(
    record_id: str,
    *,
    package: tuple[str, str] = ("PyPI", "requests"),
    aliases: tuple[str, ...] = (),
    minutes: int = 0,
    withdrawn: bool = False,
    fixed: str = "2.0",
) -> Advisory:
    """An OSV advisory affecting one package below ``fixed``."""
    events = (RangeEvent(EventKind.INTRODUCED, "0"), RangeEvent(EventKind.FIXED, fixed))
    return Advisory(
        id=record_id,
        source=Source.OSV,
        modified=T0 + timedelta(minutes=minutes),
        aliases=aliases,
        summary=f"summary of {record_id}",
        withdrawn=T0 if withdrawn else None,
        affected=(
            AffectedPackage(package[0], package[1], (VersionRange(RangeType.ECOSYSTEM, events),)),
        ),
    )


def nvd(
    record_id: str,
    *,
    vendor: str = "acme",
    product: str = "infusion_pump_fw",
    platform: tuple[str, str] | None = None,
    minutes: int = 0,
    withdrawn: bool = False,
) -> Advisory:
    """An NVD CVE whose configuration names ``vendor:product`` (on ``platform`` if given)."""
    app = CpeNode("OR", (CpeMatch(f"cpe:2.3:a:{vendor}:{product}:*:*:*:*:*:*:*:*", True),))
    nodes = (app,)
    if platform is not None:
        crit = f"cpe:2.3:o:{platform[0]}:{platform[1]}:-:*:*:*:*:*:*:*"
        nodes = (app, CpeNode("OR", (CpeMatch(crit, False),)))
    return Advisory(
        id=record_id,
        source=Source.NVD,
        modified=T0 + timedelta(minutes=minutes),
        withdrawn=T0 if withdrawn else None,
        status="Rejected" if withdrawn else "Analyzed",
        configurations=(CpeConfiguration(nodes, "AND" if platform else "OR"),),
    )
