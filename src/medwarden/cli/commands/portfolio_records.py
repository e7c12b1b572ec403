"""``medwarden release support``, ``portfolio evidence``, ``portfolio register-self``.

Support records (REQUIREMENTS 3), the evidence pack of a product version (REQUIREMENTS
52) and medwarden's own backend as a product (REQUIREMENTS 63).  Registered on the
``release`` and ``portfolio`` groups by :mod:`medwarden.cli.app`; like every portfolio
command they work on the local store with the services the REST API uses.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from medwarden.cli.runtime import actor_name, open_intel_store, settings_for

__all__ = ["portfolio_evidence", "portfolio_register_self", "release_support"]

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."
_ACTOR_HELP = "Who is recorded in the audit trail (default: the OS user name)."


def _day(text: str | None) -> date | None:
    from medwarden.errors import UsageError

    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise UsageError(f"--end-of-support {text!r} is not a YYYY-MM-DD date") from None


def release_support(
    product: Annotated[str, typer.Argument(help="Product id.")],
    version: Annotated[str, typer.Argument(help="Software version.")],
    ref: Annotated[str, typer.Argument(help="Component ref (bom-ref / SPDXID) in the SBOM.")],
    level: Annotated[
        str | None,
        typer.Option(help="actively_maintained, no_longer_maintained, abandoned, or free text."),
    ] = None,
    end_of_support: Annotated[
        str | None, typer.Option(help="End-of-support date (YYYY-MM-DD).")
    ] = None,
    justification: Annotated[
        str | None, typer.Option(help="Why no end-of-support date can be given.")
    ] = None,
    clear: Annotated[bool, typer.Option(help="Remove the component's support record.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (recorded in the audit trail).")] = None,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Set a component's support record in the release's current SBOM (audited).

    A level needs an end-of-support date or a justification.  The SBOM document stays
    as imported; `release sbom --annotated` writes the records into a copy."""
    from medwarden.core.clock import SystemClock
    from medwarden.errors import UsageError
    from medwarden.services.support import set_component_support

    stated = level is not None or end_of_support is not None or justification is not None
    if clear == stated:
        raise UsageError(
            "give --level/--end-of-support/--justification, or --clear (not both)"
            if stated
            else "give --level, --end-of-support and/or --justification, or --clear"
        )
    with open_intel_store(settings_for(db), create=False) as store:
        stored = set_component_support(
            store.support,
            product,
            version,
            ref,
            level=level,
            end_of_support=_day(end_of_support),
            justification=justification,
            actor=actor_name(actor),
            clock=SystemClock(),
            reason=reason,
        )
    where = f"{product}@{version} revision {stored.revision}, {ref}"
    if not stored.changed:
        typer.echo(f"{where}: unchanged")
    elif stored.support is None:
        typer.echo(f"{where}: support record cleared")
    else:
        s = stored.support
        parts = [
            f"level {s.level}" if s.level else None,
            f"end of support {s.end_of_support.isoformat()}" if s.end_of_support else None,
            f"justification {s.justification!r}" if s.justification else None,
        ]
        typer.echo(f"{where}: " + ", ".join(p for p in parts if p))


def portfolio_evidence(
    product: Annotated[str, typer.Argument(help="Product id.")],
    version: Annotated[str, typer.Argument(help="Software version.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Write the zip here.")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """Write the evidence pack of a product version: SBOM revisions, findings with their
    decision history, policy applications, audit events, hashes (see README.txt inside)."""
    from medwarden.core.clock import SystemClock
    from medwarden.errors import Location, UsageError
    from medwarden.services.evidence import evidence_pack

    with open_intel_store(settings_for(db), create=False) as store:
        pack = evidence_pack(store.evidence, store.audit, product, version, clock=SystemClock())
    try:
        output.write_bytes(pack.data)
    except OSError as exc:
        raise UsageError(
            f"cannot write the evidence pack: {exc.strerror or exc}",
            location=Location(source=str(output)),
        ) from exc
    typer.echo(
        f"{output}: evidence pack of {product}@{version}, {len(pack.files)} files, "
        f"{pack.events} audit events"
    )
    typer.echo(f"  SHA-256 of the pack:     {pack.sha256}")
    typer.echo(f"  SHA-256 of manifest.json: {pack.manifest_sha256}")
    typer.echo(f"  audit checkpoint:        {pack.checkpoint}")


def portfolio_register_self(
    version: Annotated[
        str | None, typer.Option(help="Release to register (default: the installed version).")
    ] = None,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
) -> None:
    """Manage medwarden's own backend as a product: create it and its release if missing,
    and import its own SBOM as the next revision when its components changed."""
    from medwarden.core.clock import SystemClock
    from medwarden.services.self_registration import register_self

    with open_intel_store(settings_for(db), create=True) as store:
        done = register_self(
            store.portfolio, store, actor=actor_name(actor), clock=SystemClock(), version=version
        )
    product = done.product
    typer.echo(
        f"product {product.slug} ({product.name}): "
        f"{'created' if done.product_created else 'exists'}, monitored every "
        f"{product.monitoring_interval_s / 3600:g} h"
    )
    typer.echo(
        f"release {product.slug}@{done.version}: "
        f"{'created (fielded)' if done.release_created else 'exists'}"
    )
    if done.imported is None:
        typer.echo(f"SBOM unchanged: revision {done.revision} has the same components")
        return
    r = done.imported.result
    typer.echo(
        f"SBOM imported as revision {r.revision}: {r.components} components; findings "
        f"{r.delta.new} new, {r.delta.resolved} resolved"
    )
