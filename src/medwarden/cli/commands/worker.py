"""``medwarden worker run``: process the job queue (deliveries, monitoring ticks)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated

import typer

from medwarden.cli.commands.notify import (
    SmtpFrom,
    SmtpHost,
    SmtpPort,
    SmtpStartTls,
    SmtpTls,
    SmtpUser,
    smtp_settings,
)
from medwarden.cli.runtime import open_intel_store, settings_for

if TYPE_CHECKING:
    from medwarden.jobs.worker import WorkerReport

__all__ = ["app"]

app = typer.Typer(
    help="Background workers: notification deliveries and scheduled monitoring.",
    rich_markup_mode=None,
)

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."


@app.command("run")
def run(
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    once: Annotated[
        bool, typer.Option(help="Process the jobs due now, then exit (for cron).")
    ] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Worker threads.")] = 1,
    poll_interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between polls of an empty queue.")
    ] = 1.0,
    timeout: Annotated[float, typer.Option(min=0.1, help="Webhook timeout in seconds.")] = 10.0,
    smtp_host: SmtpHost = None,
    smtp_port: SmtpPort = 587,
    smtp_from: SmtpFrom = "medwarden@localhost",
    smtp_starttls: SmtpStartTls = True,
    smtp_tls: SmtpTls = False,
    smtp_user: SmtpUser = None,
) -> None:
    """Run workers until interrupted (Ctrl-C stops them after their current job)."""
    import httpx

    from medwarden.core.clock import SystemClock
    from medwarden.jobs.handlers import DEFAULT_PERIODIC, builtin_handlers
    from medwarden.jobs.worker import run_worker
    from medwarden.services.notifications import DeliveryPolicy

    smtp = smtp_settings(smtp_host, smtp_port, smtp_from, smtp_starttls, smtp_tls, smtp_user)
    clock = SystemClock()
    stop = threading.Event()
    reports: list[WorkerReport] = []
    errors: list[BaseException] = []
    with (
        open_intel_store(settings_for(db), create=False) as store,
        httpx.Client(follow_redirects=False) as client,
    ):
        handlers = builtin_handlers(
            store, clock, client=client, smtp=smtp, policy=DeliveryPolicy(webhook_timeout=timeout)
        )

        def work() -> None:
            try:
                reports.append(
                    run_worker(
                        store,
                        handlers,
                        clock,
                        poll_interval=poll_interval,
                        until_idle=once,
                        periodic=DEFAULT_PERIODIC,
                        stop=stop,
                    )
                )
            except BaseException as exc:  # re-raised in the main thread below
                errors.append(exc)
                stop.set()

        threads = [threading.Thread(target=work, name=f"worker-{i}") for i in range(concurrency)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)
        except KeyboardInterrupt:
            typer.echo("stopping after the current jobs ...", err=True)
            stop.set()
            for thread in threads:
                thread.join()
    if errors:
        raise errors[0]
    for report in sorted(reports, key=lambda r: r.worker):
        typer.echo(
            f"worker {report.worker}: {report.done} done, {report.retried} to retry, "
            f"{report.failed} failed, {report.lost} lost"
        )
