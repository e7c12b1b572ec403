"""``medwarden triage decide|history`` and ``medwarden policy add|list|disable|carry|reconcile``.

Triage decisions and carry-over policies on portfolio findings, straight on the local
store.  Every change is audited with ``--actor`` (default: the OS user name); a decision
a rule refuses (a KEV finding closed without assessment and approver, a finding leaving
``under_investigation`` without the triage record) exits 2 and stores nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from medwarden.cli.runtime import actor_name, open_intel_store, settings_for

if TYPE_CHECKING:
    from medwarden.vex.carryover import CarryOverCounts, CarryOverPolicy
    from medwarden.vex.triage import DecisionRecord

__all__ = ["app", "policy_app"]

app = typer.Typer(
    help="Record triage decisions on findings and read their history.", rich_markup_mode=None
)
policy_app = typer.Typer(
    help="Carry-over policies: reuse a decision for every finding it also holds for.",
    rich_markup_mode=None,
)

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."
_ACTOR_HELP = "Who is recorded in the audit trail (default: the OS user name)."

Db = Annotated[str | None, typer.Option(help=_DB_HELP)]
Actor = Annotated[str | None, typer.Option(help=_ACTOR_HELP)]
Reason = Annotated[str | None, typer.Option(help="Why (recorded in the audit trail).")]
Status = Annotated[
    str,
    typer.Option(help="under_investigation, affected, not_affected or fixed."),
]
Justification = Annotated[
    str | None,
    typer.Option(
        help="Why not affected: component_not_present, vulnerable_code_not_present, "
        "vulnerable_code_not_in_execute_path, vulnerable_code_cannot_be_controlled_by_adversary, "
        "inline_mitigations_already_exist."
    ),
]
Responses = Annotated[
    list[str] | None,
    typer.Option(
        "--response",
        help="What is done (repeatable): can_not_fix, will_not_fix, update, rollback, "
        "workaround_available.",
    ),
]
Detail = Annotated[str | None, typer.Option(help="Action statement or other detail.")]
Impact = Annotated[str | None, typer.Option("--impact", help="Impact statement.")]
Applicability = Annotated[
    str | None, typer.Option(help="Triage record: does the vulnerability apply to the device?")
]
Verifiability = Annotated[
    str | None, typer.Option(help="Triage record: how it was (or can be) verified.")
]
Threats = Annotated[
    str | None, typer.Option("--related-threats", help="Triage record: related threats.")
]
Assessment = Annotated[
    str | None, typer.Option(help="Assessment (required to close a KEV-listed finding).")
]
Approver = Annotated[
    str | None,
    typer.Option(help="Second person approving (required to close a KEV-listed finding)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _time(value: str | None, option: str) -> datetime | None:
    from medwarden.core.timestamps import parse_timestamp
    from medwarden.errors import UsageError

    try:
        return parse_timestamp(value)
    except ValueError:
        raise UsageError(
            f"{option} {value!r} is not a time", hint="use ISO 8601, e.g. 2027-01-31T00:00:00Z"
        ) from None


@app.command("decide", no_args_is_help=True)
def decide(
    finding_pk: Annotated[int, typer.Argument(metavar="FINDING_PK", help="The finding's id.")],
    status: Status,
    justification: Justification = None,
    response: Responses = None,
    detail: Detail = None,
    impact: Impact = None,
    applicability: Applicability = None,
    verifiability: Verifiability = None,
    related_threats: Threats = None,
    assessment: Assessment = None,
    approver: Approver = None,
    expires: Annotated[
        str | None, typer.Option(help="When the decision must be reviewed (ISO 8601).")
    ] = None,
    reason: Reason = None,
    actor: Actor = None,
    db: Db = None,
) -> None:
    """Record a triage decision on a finding (audited; refused decisions store nothing)."""
    from medwarden.core.clock import SystemClock
    from medwarden.services import triage

    chosen = triage.decision_from_text(
        status,
        justification=justification,
        responses=response or (),
        detail=detail,
        impact_statement=impact,
        applicability=applicability,
        verifiability=verifiability,
        related_threats=related_threats,
        assessment=assessment,
        approver=approver,
        expires_at=_time(expires, "--expires"),
    )
    with open_intel_store(settings_for(db), create=False) as store:
        record = triage.decide(
            store.triage,
            finding_pk,
            chosen,
            actor=actor_name(actor),
            clock=SystemClock(),
            reason=reason,
        )
    typer.echo(
        f"finding {record.finding_pk}: {record.decision.status.value} "
        f"(decision {record.pk} by {record.actor})"
    )


@app.command("history", no_args_is_help=True)
def history(
    finding_pk: Annotated[int, typer.Argument(metavar="FINDING_PK", help="The finding's id.")],
    as_json: Json = False,
    db: Db = None,
) -> None:
    """List every decision recorded on a finding, oldest first (none is ever changed)."""
    from medwarden.services import triage

    with open_intel_store(settings_for(db), create=False) as store:
        records = triage.history(store.triage, finding_pk)
    if as_json:
        _print_json([_record_json(r) for r in records])
        return
    _print_history(finding_pk, records)


@policy_app.command("add", no_args_is_help=True)
def add(
    name: Annotated[str, typer.Option(help="A name for the policy.")],
    vulnerability: Annotated[str, typer.Option(help="Vulnerability id (CVE, GHSA, ...).")],
    package: Annotated[str, typer.Option(help="Package name as advisories spell it.")],
    status: Status,
    family: Annotated[
        str | None,
        typer.Option(help="Ecosystem family (npm, PyPI, Maven, Debian...); none for CPE-only."),
    ] = None,
    version: Annotated[str | None, typer.Option(help="The exact component version.")] = None,
    version_range: Annotated[
        str | None, typer.Option("--range", help="A vers: range, e.g. vers:npm/>=1.0.0|<1.2.5.")
    ] = None,
    product: Annotated[str | None, typer.Option(help="Limit to one product (slug).")] = None,
    justification: Justification = None,
    response: Responses = None,
    detail: Detail = None,
    impact: Impact = None,
    applicability: Applicability = None,
    verifiability: Verifiability = None,
    related_threats: Threats = None,
    assessment: Assessment = None,
    approver: Approver = None,
    priority: Annotated[int, typer.Option(help="Higher wins.")] = 0,
    valid_from: Annotated[str | None, typer.Option(help="Start (ISO 8601).")] = None,
    valid_until: Annotated[str | None, typer.Option(help="End (ISO 8601).")] = None,
    mode: Annotated[str, typer.Option(help="apply, or log_only to try it out.")] = "apply",
    reason: Reason = None,
    actor: Actor = None,
    db: Db = None,
) -> None:
    """Create a policy and apply it to the findings it selects now."""
    from medwarden.core.clock import SystemClock
    from medwarden.services import triage
    from medwarden.vex.carryover import CarryOverPolicy

    chosen = triage.decision_from_text(
        status,
        justification=justification,
        responses=response or (),
        detail=detail,
        impact_statement=impact,
        applicability=applicability,
        verifiability=verifiability,
        related_threats=related_threats,
        assessment=assessment,
        approver=approver,
    )
    new = CarryOverPolicy(
        name=name,
        vulnerability_id=vulnerability,
        family=family,
        package_name=package,
        decision=chosen,
        component_version=version,
        version_range=version_range,
        product=product,
        priority=priority,
        valid_from=_time(valid_from, "--valid-from"),
        valid_until=_time(valid_until, "--valid-until"),
        mode=triage.policy_mode(mode),
    )
    with open_intel_store(settings_for(db), create=False) as store:
        outcome = triage.add_policy(
            store.triage, new, actor=actor_name(actor), clock=SystemClock(), reason=reason
        )
    typer.echo(f"policy {outcome.policy.pk} {outcome.policy.name!r} created")
    _print_counts(outcome.counts)


@policy_app.command("carry", no_args_is_help=True)
def carry(
    decision_pk: Annotated[
        int, typer.Argument(metavar="DECISION_PK", help="A person's decision (see history).")
    ],
    version_range: Annotated[
        str | None,
        typer.Option("--range", help="Carry to a vers: range instead of the exact version."),
    ] = None,
    all_products: Annotated[
        bool, typer.Option(help="Every product, not only the decided finding's.")
    ] = False,
    name: Annotated[str | None, typer.Option(help="A name for the policy.")] = None,
    priority: Annotated[int, typer.Option(help="Higher wins.")] = 0,
    valid_until: Annotated[str | None, typer.Option(help="End (ISO 8601).")] = None,
    mode: Annotated[str, typer.Option(help="apply, or log_only to try it out.")] = "apply",
    reason: Reason = None,
    actor: Actor = None,
    db: Db = None,
) -> None:
    """Make a policy of a decision: same vulnerability, package and version (or range)."""
    from medwarden.core.clock import SystemClock
    from medwarden.services import triage

    with open_intel_store(settings_for(db), create=False) as store:
        outcome = triage.carry_decision(
            store.triage,
            decision_pk,
            actor=actor_name(actor),
            clock=SystemClock(),
            scope="range" if version_range is not None else "version",
            version_range=version_range,
            priority=priority,
            valid_until=_time(valid_until, "--valid-until"),
            mode=triage.policy_mode(mode),
            all_products=all_products,
            name=name,
            reason=reason,
        )
    typer.echo(f"policy {outcome.policy.pk} {outcome.policy.name!r} created")
    _print_counts(outcome.counts)


@policy_app.command("disable", no_args_is_help=True)
def disable(
    policy_pk: Annotated[int, typer.Argument(metavar="POLICY_PK", help="The policy's id.")],
    reason: Reason = None,
    actor: Actor = None,
    db: Db = None,
) -> None:
    """Disable a policy; the decisions it made are reverted (audited)."""
    from medwarden.core.clock import SystemClock
    from medwarden.services import triage

    with open_intel_store(settings_for(db), create=False) as store:
        outcome = triage.disable_policy(
            store.triage, policy_pk, actor=actor_name(actor), clock=SystemClock(), reason=reason
        )
    typer.echo(f"policy {policy_pk} {outcome.policy.name!r} disabled")
    _print_counts(outcome.counts)


@policy_app.command("list")
def list_(
    enabled_only: Annotated[bool, typer.Option(help="Hide disabled policies.")] = False,
    as_json: Json = False,
    db: Db = None,
) -> None:
    """List the carry-over policies, oldest first."""
    from medwarden.services import triage

    with open_intel_store(settings_for(db), create=False) as store:
        policies = triage.list_policies(store.triage, include_disabled=not enabled_only)
    if as_json:
        _print_json([_policy_json(p) for p in policies])
        return
    _print_policies(policies)


@policy_app.command("reconcile")
def reconcile(actor: Actor = None, db: Db = None) -> None:
    """Apply and revert policy decisions as the policies in force now say."""
    from medwarden.core.clock import SystemClock
    from medwarden.services import triage
    from medwarden.vex.carryover import POLICY_ENGINE

    with open_intel_store(settings_for(db), create=False) as store:
        counts = triage.reconcile(
            store.triage, clock=SystemClock(), actor=actor.strip() if actor else POLICY_ENGINE
        )
    _print_counts(counts)


# -- output ------------------------------------------------------------------------------


def _print_json(value: object) -> None:
    import json

    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _record_json(record: DecisionRecord) -> dict[str, object]:
    return {
        "pk": record.pk,
        "finding_pk": record.finding_pk,
        "actor": record.actor,
        "at": record.at.isoformat(),
        "policy_pk": record.policy_pk,
        "reverts_pk": record.reverts_pk,
        **record.decision.as_dict(),
    }


def _policy_json(policy: CarryOverPolicy) -> dict[str, object]:
    return {
        "pk": policy.pk,
        "name": policy.name,
        "vulnerability_id": policy.vulnerability_id,
        "family": policy.family,
        "package_name": policy.package_name,
        "component_version": policy.component_version,
        "version_range": policy.version_range,
        "product": policy.product,
        "priority": policy.priority,
        "valid_from": None if policy.valid_from is None else policy.valid_from.isoformat(),
        "valid_until": None if policy.valid_until is None else policy.valid_until.isoformat(),
        "mode": policy.mode.value,
        "enabled": policy.enabled,
        "created_by": policy.created_by,
        "created_at": None if policy.created_at is None else policy.created_at.isoformat(),
        "decision": policy.decision.as_dict(),
    }


def _print_counts(counts: CarryOverCounts) -> None:
    typer.echo(
        f"applied {counts.applied}, reverted {counts.reverted}, logged {counts.logged}, "
        f"log records ended {counts.unlogged}, kept (decided by a person) {counts.kept_human}, "
        f"refused by the decision rules {counts.refused}"
    )


def _print_history(finding_pk: int, records: list[DecisionRecord]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    if not records:
        console.print(f"finding {finding_pk} has no decision yet (under_investigation)")
        return
    table = Table(title=f"Decisions on finding {finding_pk}, oldest first")
    for column in ("Id", "Time (UTC)", "Status", "By"):
        table.add_column(column, no_wrap=True)
    for column in ("Actor", "Justification / detail"):
        table.add_column(column)
    for record in records:
        d = record.decision
        if record.policy_pk is not None:
            by = f"policy {record.policy_pk}"
        elif record.reverts_pk is not None:
            by = f"revert of {record.reverts_pk}"
        else:
            by = "person"
        why = [
            d.justification.value if d.justification else "",
            d.impact_statement or d.detail or "",
            ", ".join(r.value for r in d.responses),
        ]
        cells = (
            str(record.pk),
            record.at.strftime("%Y-%m-%d %H:%M:%S"),
            d.status.value,
            by,
            record.actor,
            "; ".join(w for w in why if w),
        )
        table.add_row(*(Text(cell) for cell in cells))  # stored text is never Rich markup
    console.print(table)


def _print_policies(policies: list[CarryOverPolicy]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    if not policies:
        console.print("no carry-over policies")
        return
    table = Table(title="Carry-over policies")
    table.add_column("Id", no_wrap=True)
    table.add_column("Name")
    table.add_column("Covers")
    for column in ("Status", "Prio", "Mode", "On", "Until"):
        table.add_column(column, no_wrap=True)
    for p in policies:
        package = f"{p.family}:{p.package_name}" if p.family else p.package_name
        versions = p.component_version or p.version_range or ""
        cells = (
            str(p.pk),
            p.name,
            f"{p.vulnerability_id} {package} {versions} in {p.product or 'every product'}",
            p.decision.status.value,
            str(p.priority),
            p.mode.value,
            "yes" if p.enabled else "no",
            "" if p.valid_until is None else p.valid_until.strftime("%Y-%m-%d"),
        )
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
