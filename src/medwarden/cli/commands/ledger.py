"""``medwarden ledger export|verify|checkpoint|key``: the tamper-evident telemetry ledger.

``ledger verify`` works offline on an export: it re-checks every record's hash and chain
link, rebuilds each device's Merkle tree and checks every signed checkpoint against it
(``--signatures`` also checks every device signature and receipt), and exits 4 naming the
first bad record.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from medwarden.telemetry.receipts import ReceiptSigner

from medwarden.cli.runtime import open_intel_store, settings_for

__all__ = ["app"]

app = typer.Typer(help="Export, verify and checkpoint the device ledger.", rich_markup_mode=None)

_DB_HELP = "Store path or SQLAlchemy URL (default: MEDWARDEN_DB, then the user data dir)."
Db = Annotated[str | None, typer.Option(help=_DB_HELP)]


@app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON Lines file to write.")],
    device: Annotated[
        list[str] | None, typer.Option("--device", help="A device (repeatable; default: all).")
    ] = None,
    db: Db = None,
) -> None:
    """Write the shards (records, receipts, checkpoints, keys) to a JSON Lines file."""
    import orjson

    count = 0
    with open_intel_store(settings_for(db), create=False) as store, output.open("wb") as out:
        ids = device or store.ledger.device_ids()
        for line in store.ledger.export(ids):
            out.write(orjson.dumps(line) + b"\n")
            count += line.get("type") == "record"
    typer.echo(f"exported {count} records of {len(ids)} devices to {output}", err=True)


@app.command("verify")
def verify(
    export_file: Annotated[Path, typer.Argument(help="A file written by `ledger export`.")],
    server_key: Annotated[
        list[str] | None,
        typer.Option(
            help="Pinned server public key KEY_ID=BASE64URL (repeatable); default: trust the "
            "keys named in the export."
        ),
    ] = None,
    signatures: Annotated[
        bool, typer.Option(help="Also verify every device signature and receipt (slower).")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Processes verifying device sections in parallel (default: the CPUs).",
        ),
    ] = None,
) -> None:
    """Verify an export offline; exit 4 naming the first bad record."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from medwarden.core.b64 import b64url_decode
    from medwarden.errors import VerificationError
    from medwarden.telemetry.ledger.verify import verify_export_file

    pinned = None
    if server_key:
        pinned = {}
        for item in server_key:
            kid, _, text = item.partition("=")
            pinned[kid] = Ed25519PublicKey.from_public_bytes(b64url_decode(text))
    report = verify_export_file(
        export_file, pinned_server_keys=pinned, signatures=signatures, workers=jobs
    )
    if report.first_failure is not None:
        raise VerificationError(f"ledger does not verify: {report.first_failure.describe()}")
    typer.echo(
        f"ledger intact: {report.devices} devices, {report.records} records, "
        f"{report.checkpoints} checkpoints verified"
        + (" (signatures and receipts included)" if signatures else "")
    )


@app.command("checkpoint")
def checkpoint(
    device: Annotated[
        list[str] | None, typer.Option("--device", help="A device (repeatable; default: all).")
    ] = None,
    db: Db = None,
) -> None:
    """Sign the current tree head of each shard; print them as JSON lines."""
    import orjson

    from medwarden.core.clock import SystemClock
    from medwarden.keys import load_or_create_signer
    from medwarden.services.telemetry import sign_checkpoint

    settings = settings_for(db)
    signer = load_or_create_signer(settings.ledger_key_path)
    clock = SystemClock()
    with open_intel_store(settings, create=False) as store:
        store.ledger.register_server_key(signer.key_id, _public(signer), at=clock.now())
        for device_id in device or store.ledger.device_ids():
            cp = sign_checkpoint(store.ledger, signer, device_id, clock=clock)
            typer.echo(orjson.dumps(cp.to_json()).decode())


@app.command("key")
def key(db: Db = None) -> None:
    """Print the server's ledger public key as KEY_ID=BASE64URL (pin it for `verify`)."""
    from medwarden.core.b64 import b64url_encode
    from medwarden.keys import load_or_create_signer

    signer = load_or_create_signer(settings_for(db).ledger_key_path)
    typer.echo(f"{signer.key_id}={b64url_encode(_public(signer))}")


def _public(signer: ReceiptSigner) -> bytes:
    from medwarden.telemetry.devices import public_key_to_bytes

    return public_key_to_bytes(signer.key.public_key())
