"""``medwarden serve``: run the REST API with uvicorn.

One worker runs the app in this process.  ``--workers N`` (N > 1) uses uvicorn's
multi-process mode: the settings are handed to the worker processes through the
environment (:func:`medwarden.config.settings_environment`) and each builds its own app
with :func:`medwarden.api.app.create_app_from_environment`.  That works because the
app keeps no state of its own: tokens, users and data are all in the database.

Serve plain HTTP on the loopback interface (the default) behind a TLS-terminating
reverse proxy; tokens must never cross a network unencrypted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from medwarden.cli.runtime import open_intel_store, settings_for

__all__ = ["serve"]

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."
_FACTORY = "medwarden.api.app:create_app_from_environment"


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate (chain): serve HTTPS (with --tls-key).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
    access_log: Annotated[
        bool,
        typer.Option(
            help="Log a line per request (off: errors and refusals are still logged; "
            "device telemetry is a request every few seconds per device)."
        ),
    ] = True,
) -> None:
    """Serve the REST API (/api/v1, OpenAPI at /api/v1/openapi.json) until interrupted.

    Devices submit telemetry over HTTPS: serve with ``--tls-cert``/``--tls-key`` (or behind
    a TLS-terminating proxy) whenever devices reach it over a network."""
    import uvicorn

    from medwarden.api.app import create_app
    from medwarden.config import settings_environment

    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("--tls-cert and --tls-key go together")
    cert = None if tls_cert is None else str(tls_cert)
    key = None if tls_key is None else str(tls_key)
    settings = settings_for(db)
    open_intel_store(settings, create=False).close()  # no store, or an old one: exit 3 now
    if workers > 1:
        os.environ.update(settings_environment(settings))
        app: Any = _FACTORY
    else:
        app = create_app(settings, serving=True)
    uvicorn.run(
        app,
        factory=workers > 1,
        host=host,
        port=port,
        workers=workers if workers > 1 else None,
        ssl_certfile=cert,
        ssl_keyfile=key,
        access_log=access_log,
    )
