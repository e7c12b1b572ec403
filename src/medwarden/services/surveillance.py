"""One surveillance pass: re-evaluate the portfolio, keep triage current, raise
end-of-support alerts.

This is what a monitoring run *does* (``medwarden worker run`` schedules it per
product, ``medwarden monitor tick`` runs it by hand); the monitoring service around it
records the run, its outcome and the feed versions, and the liveness check watches
that runs keep succeeding.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from medwarden.core.clock import Clock
from medwarden.matching.base import AdvisoryIndex
from medwarden.notify.alerts import Alert, AlertDraft
from medwarden.notify.model import Notification, NotificationKind
from medwarden.services.portfolio import PortfolioStore, reevaluate
from medwarden.services.support import EndOfSupportItem, SupportSource, end_of_support_report
from medwarden.vex.carryover import CarryOverCounts

__all__ = [
    "EOS_ALERT",
    "AlertStore",
    "TriageUpkeep",
    "end_of_support_alerts",
    "surveillance_pass",
]

EOS_ALERT = "end_of_support"
"""The alert kind of components past, near or before the device's end of support."""


class TriageUpkeep(Protocol):
    """Triage upkeep that depends on time: policy validity windows, decision expiry."""

    def reconcile_policies(self, now: datetime, actor: str = ...) -> CarryOverCounts:
        """Apply or revert policy decisions as policies start or stop matching."""
        ...

    def expire_decisions(self, now: datetime, actor: str = ...) -> list[int]:
        """Return findings with expired decisions to under_investigation."""
        ...


class AlertStore(Protocol):
    """Raising and clearing alerts (each with its audit event, one transaction each)."""

    def raise_alert(
        self,
        draft: AlertDraft,
        *,
        at: datetime,
        actor: str,
        notification: Notification | None = None,
        area: str = "monitoring",
    ) -> Alert | None:
        """Open an alert unless one with the same key is open."""
        ...

    def clear_alert(
        self,
        dedupe_key: str,
        *,
        at: datetime,
        actor: str,
        reason: str | None = None,
        area: str = "monitoring",
    ) -> Alert | None:
        """Close the open alert with that key, if any."""
        ...

    def open_alerts(self, kind: str | None = None) -> list[Alert]:
        """The open alerts of ``kind``."""
        ...


def _key(item: EndOfSupportItem) -> str:
    return f"eos:{item.product}:{item.release}:{item.ref}"


def _notice(item: EndOfSupportItem, key: str, now: datetime) -> Notification:
    return Notification(
        kind=NotificationKind.END_OF_SUPPORT,
        at=now,
        subject=f"[end of support] {item.component} in {item.product} {item.release}: "
        f"{item.reason}",
        dedupe_key=f"{key}:{now.isoformat()}",
        product=item.product,
        payload={
            "product": item.product,
            "release": item.release,
            "component_ref": item.ref,
            "component": item.component,
            "reason": item.reason,
            "end_of_support": item.end_of_support.isoformat() if item.end_of_support else None,
            "level_of_support": item.level,
        },
    )


def end_of_support_alerts(
    alerts: AlertStore, source: SupportSource, *, now: datetime, actor: str
) -> tuple[int, int]:
    """Open an alert (and notify) for each component that newly needs attention; clear
    the alerts of components that no longer do.  Returns (raised, cleared)."""
    wanted = {_key(i): i for i in end_of_support_report(source, today=now.date())}
    open_keys = {a.dedupe_key for a in alerts.open_alerts(EOS_ALERT)}
    raised = cleared = 0
    for key, item in wanted.items():
        if key in open_keys:
            continue
        draft = AlertDraft(
            EOS_ALERT,
            key,
            item.product,
            {"release": item.release, "component": item.component, "reason": item.reason},
        )
        if alerts.raise_alert(
            draft, at=now, actor=actor, notification=_notice(item, key, now), area="eos"
        ):
            raised += 1
    for key in sorted(open_keys - wanted.keys()):
        reason = "the component is supported again, was replaced or its release ended"
        if alerts.clear_alert(key, at=now, actor=actor, reason=reason, area="eos"):
            cleared += 1
    return raised, cleared


def surveillance_pass(
    portfolio: PortfolioStore,
    index: AdvisoryIndex,
    alerts: AlertStore,
    support: SupportSource,
    triage: TriageUpkeep,
    *,
    clock: Clock,
    actor: str = "medwarden-monitor",
) -> Mapping[str, int]:
    """Re-evaluate against changed intelligence, carry policies over (validity windows
    open and close with time), expire decisions past their expiry, then check end of
    support; returns the counts a monitoring run records."""
    delta = reevaluate(portfolio, index, actor=actor, clock=clock)
    carried = triage.reconcile_policies(clock.now())
    expired = triage.expire_decisions(clock.now())
    raised, cleared = end_of_support_alerts(alerts, support, now=clock.now(), actor=actor)
    return {
        **delta.as_counts(),
        "policy_decisions_applied": carried.applied,
        "policy_decisions_reverted": carried.reverted,
        "decisions_expired": len(expired),
        "eos_alerts_raised": raised,
        "eos_alerts_cleared": cleared,
    }
