"""``medwarden product|release|findings|portfolio ...``: the portfolio from the command line.

These commands talk to the local store directly (no server needed), with the same
services the REST API uses; every change is audited with ``--actor`` (default: the
OS user name).  ``--format json`` prints machine-readable output for CI pipelines.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from medwarden.cli.runtime import actor_name, open_intel_store, settings_for

if TYPE_CHECKING:
    from medwarden.portfolio.findings import Delta, FindingView
    from medwarden.store import SqlStore

__all__ = ["findings_app", "portfolio_app", "product_app", "reevaluate_after", "release_app"]

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."
_ACTOR_HELP = "Who is recorded in the audit trail (default: the OS user name)."

product_app = typer.Typer(help="Create and list products (device models).", rich_markup_mode=None)
release_app = typer.Typer(
    help="Create releases, import their SBOMs, change their lifecycle state.",
    rich_markup_mode=None,
)
findings_app = typer.Typer(help="List and show portfolio findings.", rich_markup_mode=None)
portfolio_app = typer.Typer(
    help="Re-evaluate the portfolio, the installed base, where-used, end of support.",
    rich_markup_mode=None,
)


class OutputFormat(StrEnum):
    """How list commands print."""

    TABLE = "table"
    JSON = "json"


class State(StrEnum):
    """Lifecycle states, for the command line."""

    IN_DEVELOPMENT = "in_development"
    RELEASED = "released"
    FIELDED = "fielded"
    END_OF_SUPPORT = "end_of_support"


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    raise TypeError(type(value).__name__)


def _print_json(value: object) -> None:
    typer.echo(json.dumps(value, default=_json_default, indent=2, sort_keys=True))


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # stored text is never Rich markup
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160  # piped or captured: do not squeeze columns into 80 characters
    console.print(table)


def _market(text: str) -> tuple[str, str]:
    market, sep, regime = text.partition(":")
    if not sep:
        raise typer.BadParameter(f"{text!r}: use MARKET:REGIME, e.g. EU:MDR")
    return market.strip(), regime.strip()


# -- product -----------------------------------------------------------------------------


@product_app.command("add", no_args_is_help=True)
def product_add(
    slug: Annotated[str, typer.Argument(help="Product id: lowercase, digits, '.-_'.")],
    name: Annotated[str, typer.Option(help="Product name.")],
    manufacturer: Annotated[str | None, typer.Option(help="Legal manufacturer.")] = None,
    model: Annotated[str | None, typer.Option(help="Device model designation.")] = None,
    regulatory_class: Annotated[
        str | None, typer.Option("--class", help="Regulatory class, e.g. IIb or II.")
    ] = None,
    market: Annotated[
        list[str] | None, typer.Option(help="MARKET:REGIME, repeatable (EU:MDR, US:FDA-524B).")
    ] = None,
    interval_hours: Annotated[
        float, typer.Option(min=0.02, help="Monitoring interval in hours.")
    ] = 24.0,
    support_end: Annotated[
        str | None, typer.Option(help="The device's planned end of support (YYYY-MM-DD).")
    ] = None,
    eos_horizon_days: Annotated[
        int, typer.Option(min=0, help="End-of-support alerts look this many days ahead.")
    ] = 365,
    public_sbom: Annotated[
        bool, typer.Option(help="Serve released versions' SBOMs without a token.")
    ] = False,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Create a product (audited)."""
    from medwarden.core.clock import SystemClock
    from medwarden.errors import UsageError
    from medwarden.portfolio.model import Market, ProductSpec

    try:
        end = date.fromisoformat(support_end) if support_end else None
    except ValueError:
        raise UsageError(f"--support-end {support_end!r} is not a YYYY-MM-DD date") from None
    spec = ProductSpec(
        slug=slug,
        name=name,
        manufacturer=manufacturer,
        device_model=model,
        regulatory_class=regulatory_class,
        markets=tuple(Market(*_market(m)) for m in market or ()),
        monitoring_interval_s=round(interval_hours * 3600),
        support_end=end,
        eos_horizon_days=eos_horizon_days,
        sbom_public=public_sbom,
    )
    with open_intel_store(settings_for(db), create=True) as store:
        store.portfolio.create_product(spec, actor=actor_name(actor), at=SystemClock().now())
    typer.echo(f"created product {slug}")


@product_app.command("list")
def product_list(
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    output: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.TABLE,
) -> None:
    """List products with their release counts."""
    from dataclasses import asdict

    with open_intel_store(settings_for(db), create=True) as store:
        products = store.portfolio.products()
    if output is OutputFormat.JSON:
        _print_json([asdict(p) for p in products])
        return
    _table(
        "Products",
        ["Product", "Name", "Class", "Markets", "Releases", "Monitoring"],
        [
            [
                p.slug,
                p.name,
                p.regulatory_class or "",
                ", ".join(f"{m.market}:{m.regime}" for m in p.markets),
                str(p.release_count),
                f"every {p.monitoring_interval_s / 3600:g} h",
            ]
            for p in products
        ],
    )


# -- release -----------------------------------------------------------------------------


@release_app.command("add", no_args_is_help=True)
def release_add(
    product: Annotated[str, typer.Argument(help="Product id.")],
    version: Annotated[str, typer.Argument(help="Software version.")],
    state: Annotated[State, typer.Option(help="Lifecycle state.")] = State.IN_DEVELOPMENT,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Create a release of a product (audited)."""
    from medwarden.core.clock import SystemClock
    from medwarden.portfolio.model import LifecycleState, ReleaseSpec

    spec = ReleaseSpec(version, LifecycleState(state.value))
    with open_intel_store(settings_for(db), create=True) as store:
        store.portfolio.create_release(
            product, spec, actor=actor_name(actor), at=SystemClock().now()
        )
    typer.echo(f"created release {product}@{version}")


@release_app.command("list", no_args_is_help=True)
def release_list(
    product: Annotated[str, typer.Argument(help="Product id.")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    output: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.TABLE,
) -> None:
    """List the releases of a product with SBOM revision and open findings."""
    from dataclasses import asdict

    with open_intel_store(settings_for(db), create=False) as store:
        releases = store.portfolio.releases(product)
    if output is OutputFormat.JSON:
        _print_json([asdict(r) for r in releases])
        return
    _table(
        f"Releases of {product}",
        ["Version", "State", "SBOM revision", "Components", "Open findings"],
        [
            [
                r.version,
                r.state.value,
                str(r.current_revision.number) if r.current_revision else "-",
                str(r.current_revision.component_count) if r.current_revision else "-",
                str(r.open_findings),
            ]
            for r in releases
        ],
    )


@release_app.command("state", no_args_is_help=True)
def release_state(
    product: Annotated[str, typer.Argument(help="Product id.")],
    version: Annotated[str, typer.Argument(help="Software version.")],
    state: Annotated[State, typer.Argument(help="The new lifecycle state.")],
    reason: Annotated[str | None, typer.Option(help="Why (recorded in the audit trail).")] = None,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Move a release to another lifecycle state (audited)."""
    from medwarden.core.clock import SystemClock
    from medwarden.portfolio.model import LifecycleState

    with open_intel_store(settings_for(db), create=False) as store:
        store.portfolio.set_release_state(
            product,
            version,
            LifecycleState(state.value),
            actor=actor_name(actor),
            at=SystemClock().now(),
            reason=reason,
        )
    typer.echo(f"{product}@{version} is now {state.value}")


@release_app.command("import", no_args_is_help=True)
def release_import(
    product: Annotated[str, typer.Argument(help="Product id.")],
    version: Annotated[str, typer.Argument(help="Software version.")],
    sbom: Annotated[Path, typer.Argument(help="CycloneDX or SPDX SBOM file.")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Import an SBOM as the release's next revision and match it (audited).

    Earlier revisions are kept; findings of components still present keep their triage."""
    from medwarden.core.clock import SystemClock
    from medwarden.sbom.reading import read_limited
    from medwarden.services.portfolio import import_sbom

    data = read_limited(sbom)
    with open_intel_store(settings_for(db), create=True) as store:
        outcome = import_sbom(
            store.portfolio,
            store,
            product,
            version,
            data,
            actor=actor_name(actor),
            clock=SystemClock(),
            source=str(sbom),
        )
    r = outcome.result
    typer.echo(
        f"{product}@{version}: revision {r.revision}, {r.components} components "
        f"({r.identities_new} not seen before, {r.identities_matched} matched); findings: "
        f"{r.delta.new} new, {r.delta.reopened} reopened, {r.delta.resolved} resolved, "
        f"{r.delta.policies_applied} decided by policy"
    )
    for skip in outcome.skipped[:10]:
        typer.echo(f"  not analysed: {skip.component_ref}: {skip.reason.value}: {skip.detail}")
    if len(outcome.skipped) > 10:
        typer.echo(f"  ... and {len(outcome.skipped) - 10} more components not analysed")


@release_app.command("revisions", no_args_is_help=True)
def release_revisions(
    product: Annotated[str, typer.Argument(help="Product id.")],
    version: Annotated[str, typer.Argument(help="Software version.")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """List every SBOM revision of a release."""
    with open_intel_store(settings_for(db), create=False) as store:
        revisions = store.portfolio.revisions(product, version)
    _table(
        f"SBOM revisions of {product}@{version}",
        ["Revision", "Format", "Components", "SHA-256", "Imported", "By"],
        [
            [
                str(r.number),
                f"{r.format} {r.spec_version}",
                str(r.component_count),
                r.digest[:16],
                r.imported_at.strftime("%Y-%m-%d %H:%M"),
                r.imported_by,
            ]
            for r in revisions
        ],
    )


@release_app.command("sbom", no_args_is_help=True)
def release_sbom(
    product: Annotated[str, typer.Argument(help="Product id.")],
    version: Annotated[str, typer.Argument(help="Software version.")],
    revision: Annotated[
        int | None, typer.Option(help="Revision number (default: current).")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    annotated: Annotated[
        bool, typer.Option(help="The current SBOM with the stored support records written in.")
    ] = False,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """Print a stored SBOM revision exactly as it was imported (or annotated)."""
    from medwarden.core.clock import SystemClock
    from medwarden.errors import UsageError
    from medwarden.services.support import annotated_sbom

    if annotated and revision is not None:
        raise UsageError("only the current SBOM revision can be annotated; leave out --revision")
    with open_intel_store(settings_for(db), create=False) as store:
        if annotated:
            document = annotated_sbom(store.support, product, version, clock=SystemClock()).document
        else:
            _info, document = store.portfolio.revision_document(product, version, revision)
    if output is not None:
        output.write_bytes(document)
    else:
        typer.echo(document.decode("utf-8", errors="replace"), nl=False)


# -- findings ----------------------------------------------------------------------------


class Severity(StrEnum):
    """Severity thresholds, for the command line."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


def _finding_dict(f: FindingView) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(f)


@findings_app.command("list")
def findings_list(
    product: Annotated[str | None, typer.Option(help="Only this product.")] = None,
    release: Annotated[
        str | None, typer.Option(help="Only this release (needs --product).")
    ] = None,
    severity: Annotated[Severity | None, typer.Option(help="At or above this severity.")] = None,
    kev: Annotated[
        bool | None, typer.Option("--kev/--no-kev", help="Only (or no) CISA KEV findings.")
    ] = None,
    state: Annotated[str, typer.Option(help="open, resolved or all.")] = "open",
    status: Annotated[str | None, typer.Option(help="Triage status.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Discovered at or after (ISO 8601 with zone).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Page size.")] = 100,
    after: Annotated[int, typer.Option(min=0, help="Continue after this finding id.")] = 0,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    output: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.TABLE,
) -> None:
    """List findings (a page; continue with --after LAST_ID)."""
    from medwarden.errors import UsageError
    from medwarden.intel.cvss import SeverityRating
    from medwarden.portfolio.findings import FindingQuery

    try:
        new_since = datetime.fromisoformat(since) if since else None
    except ValueError:
        raise UsageError(f"--since {since!r} is not an ISO 8601 time") from None
    query = FindingQuery(
        products=frozenset({product}) if product else None,
        release=release,
        min_severity=SeverityRating(severity.value) if severity else None,
        kev=kev,
        state=None if state == "all" else state,
        status=status,
        new_since=new_since,
        after=after,
        limit=limit,
    )
    with open_intel_store(settings_for(db), create=False) as store:
        found = store.portfolio.findings(query)
    if output is OutputFormat.JSON:
        _print_json(
            {
                "items": [_finding_dict(f) for f in found],
                "next_after": found[-1].id if len(found) == limit else None,
            }
        )
        return
    _table(
        "Findings",
        [
            "Id",
            "Product",
            "Release",
            "Component",
            "Vulnerability",
            "Severity",
            "KEV",
            "State",
            "Status",
        ],
        [
            [
                str(f.id),
                f.product,
                f.release,
                f"{f.component_name}@{f.component_version or '?'}",
                f.vulnerability_id,
                f.severity.value,
                "yes" if f.kev else "",
                f.state,
                f.status,
            ]
            for f in found
        ],
    )


@findings_app.command("show", no_args_is_help=True)
def findings_show(
    finding_id: Annotated[int, typer.Argument(help="Finding id.")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """Show one finding with its match evidence (JSON)."""
    with open_intel_store(settings_for(db), create=False) as store:
        found = store.portfolio.finding(finding_id)
    _print_json(_finding_dict(found))


# -- portfolio ---------------------------------------------------------------------------


def reevaluate_after(store: SqlStore, actor: str) -> Delta | None:
    """Re-evaluate the portfolio after an intelligence change; print what changed."""
    from medwarden.core.clock import SystemClock
    from medwarden.services.portfolio import reevaluate

    if not store.portfolio.products():
        return None
    delta = reevaluate(store.portfolio, store, actor=actor, clock=SystemClock())
    if not delta.skipped:
        typer.echo(
            f"portfolio re-evaluated: {delta.components} component identities re-matched; "
            f"findings {delta.new} new, {delta.changed} changed, {delta.reopened} reopened, "
            f"{delta.resolved} resolved; {delta.kev_findings} open findings newly in KEV"
        )
    return delta


@portfolio_app.command("reevaluate")
def portfolio_reevaluate(
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Re-match the components that intelligence changed since the last run may affect."""
    with open_intel_store(settings_for(db), create=False) as store:
        delta = reevaluate_after(store, actor_name(actor))
    if delta is None or delta.skipped:
        typer.echo("nothing to re-evaluate: no intelligence changed since the last run")


@portfolio_app.command("installed-base", no_args_is_help=True)
def portfolio_installed_base(
    csv_file: Annotated[Path, typer.Argument(help="CSV: device_id,product,version[,site]...")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Import which software version each fielded unit runs (all lines or none)."""
    from medwarden.core.clock import SystemClock
    from medwarden.errors import InputError
    from medwarden.portfolio.installed import read_installed_base
    from medwarden.sbom.reading import read_limited

    data = read_limited(csv_file, max_bytes=64 * 1024 * 1024, unreadable=InputError)
    units = read_installed_base(data, source=str(csv_file))
    with open_intel_store(settings_for(db), create=False) as store:
        counts = store.portfolio.import_installed_base(
            units, actor=actor_name(actor), at=SystemClock().now(), source=csv_file.name
        )
    typer.echo(f"{counts['units']} units: {counts['new']} new, {counts['updated']} updated")


@portfolio_app.command("where-used")
def portfolio_where_used(
    purl: Annotated[str | None, typer.Option(help="Exact package URL.")] = None,
    name: Annotated[str | None, typer.Option(help="Component name.")] = None,
    version: Annotated[str | None, typer.Option(help="Component version (with --name).")] = None,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    output: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.TABLE,
) -> None:
    """Which releases (and how many fielded units) run a component."""
    from dataclasses import asdict

    with open_intel_store(settings_for(db), create=False) as store:
        used = store.portfolio.where_used(purl=purl, name=name, version=version)
    if output is OutputFormat.JSON:
        _print_json([asdict(u) for u in used])
        return
    _table(
        "Where used",
        ["Product", "Release", "State", "Component", "Units"],
        [
            [u.product, u.release, u.state.value, f"{u.name}@{u.version or '?'}", str(u.units)]
            for u in used
        ],
    )


@portfolio_app.command("end-of-support")
def portfolio_end_of_support(
    today: Annotated[
        str | None, typer.Option(help="Evaluate as of this date (YYYY-MM-DD).")
    ] = None,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    output: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.TABLE,
) -> None:
    """Components past, near or before the device's end of support, or unmaintained."""
    from dataclasses import asdict

    from medwarden.core.clock import SystemClock
    from medwarden.services.support import end_of_support_report

    day = date.fromisoformat(today) if today else SystemClock().now().date()
    with open_intel_store(settings_for(db), create=False) as store:
        items = end_of_support_report(store.portfolio, today=day)
    if output is OutputFormat.JSON:
        _print_json([asdict(i) for i in items])
        return
    _table(
        f"End of support as of {day.isoformat()}",
        ["Product", "Release", "Component", "Reason"],
        [[i.product, i.release, i.component, i.reason] for i in items],
    )
