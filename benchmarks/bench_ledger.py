"""Ledger benchmarks: inclusion proofs on a 10M-leaf shard, offline verification of 1M records.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_ledger.py proof  [--leaves 10000000] [--db PATH_OR_URL]
    .venv/bin/python benchmarks/bench_ledger.py verify [--devices 100] [--records 10000]
    .venv/bin/python benchmarks/bench_ledger.py roundtrip [--devices 4] [--records 2000]

``proof`` bulk-loads one device shard of ``--leaves`` synthetic leaves straight into
``telemetry_record`` / ``ledger_node`` (leaf hashes and every completed interior node,
computed with :class:`MerkleAccumulator`, exactly what ingest stores) and then times the
real :meth:`SqlLedger.inclusion_proof`, :meth:`SqlLedger.record_inclusion` (what the route
reads: leaf, path and root in one transaction) and the HTTP route ``GET /api/v1/ledger/
devices/{id}/proofs/inclusion`` (``medwarden serve`` over a keep-alive connection, token
auth included) for random leaves, checking each proof with :func:`verify_inclusion`
against the shard's root.  The load is reused when the
database already holds a shard of that size (``--fresh`` rebuilds it).

``verify`` writes an export of ``--devices`` x ``--records`` real signed records (device
Ed25519 signatures over the canonical bytes, chained, receipts signed by a server key, one
signed checkpoint per device; the same lines ``medwarden ledger export`` writes) and times
``medwarden ledger verify`` on it (``--runs`` times, median), with and without
``--signatures``.

``roundtrip`` checks the same code path from a real store at a small scale: ingest
through :func:`ingest_batch`, ``ledger checkpoint``, ``ledger export``, ``ledger verify
--signatures`` (must pass), and that the export lines have the format ``verify`` generates.
"""

# ruff: noqa: S101, S106, PT018, B007
from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / ".data"
CLI = [str(ROOT / ".venv" / "bin" / "medwarden")]
T0 = datetime(2026, 11, 1, tzinfo=UTC)
SERVER_SEED = bytes(range(32))
DEVICE = "bench-proof-0"


def _median_line(label: str, values: list[float], unit: str = "s") -> str:
    return (
        f"{label}: median {statistics.median(values):.3f} {unit} "
        f"(runs: {', '.join(f'{v:.3f}' for v in values)})"
    )


# -- proof ----------------------------------------------------------------------------------


def _sqlite_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _synthetic(i: int) -> tuple[str, bytes]:
    record_hash = hashlib.sha256(b"bench-record-%d" % i).hexdigest()
    signature = hashlib.sha512(b"bench-sig-%d" % i).digest()
    return record_hash, signature


def _prepare_device(db: str) -> int:
    from medwarden.core.clock import FixedClock
    from medwarden.services.telemetry import register_device
    from medwarden.store import open_store
    from medwarden.store.device_repository import device_pk_of
    from medwarden.telemetry.devices import DeviceRegistration, public_key_to_bytes

    with open_store(db) as store:
        store.devices.set_model("bench-pump", {}, at=T0, actor="bench")
        register_device(
            store.devices,
            DeviceRegistration(DEVICE, "bench-pump", "S0", "1.0"),
            clock=FixedClock(T0),
            actor="bench",
        )
        key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"dev").digest())
        store.devices.enroll_key(DEVICE, public_key_to_bytes(key.public_key()), at=T0, actor="b")
        with store.ledger._db.read("pk") as conn:
            return device_pk_of(conn, DEVICE)


def _rows(pk: int, leaves: int, chunk: int):  # type: ignore[no-untyped-def]
    """Yield (record rows, node rows, accumulator) chunk by chunk."""
    from medwarden.telemetry.ledger.checkpoint import record_leaf_hash
    from medwarden.telemetry.ledger.merkle import MerkleAccumulator

    acc = MerkleAccumulator()
    when = _sqlite_time(T0)
    for start in range(0, leaves, chunk):
        records: list[tuple[Any, ...]] = []
        nodes: list[tuple[Any, ...]] = []
        for i in range(start, min(start + chunk, leaves)):
            h, sig = _synthetic(i)
            leaf = record_leaf_hash(h, sig)
            completed = acc.append(leaf)
            size = i + 1
            for level, digest in enumerate(completed, start=1):
                nodes.append((pk, level, (size >> level) - 1, digest))
            records.append((pk, i, "b1", i, when, when, "sensor_reading", h, "{}", sig, leaf))
        yield records, nodes, acc


_RECORD_SQL = (
    "INSERT INTO telemetry_record (device_pk, ledger_index, boot_id, seq, device_time, "
    "received_at, record_type, record_hash, record_json, signature, leaf_hash, key_id, "
    "outcome, receipt_sig, receipt_key_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,'k','accepted',x'00','k')"
)


def _load_sqlite(path: str, pk: int, leaves: int) -> Any:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    acc = None
    for records, nodes, acc in _rows(pk, leaves, 200_000):
        conn.execute("BEGIN")
        conn.executemany(_RECORD_SQL, records)
        conn.executemany(
            "INSERT INTO ledger_node (device_pk, level, idx, hash) VALUES (?,?,?,?)", nodes
        )
        conn.execute("COMMIT")
        print(f"  loaded {records[-1][1] + 1:,} leaves", file=sys.stderr, flush=True)
    assert acc is not None
    conn.execute(
        "UPDATE device_chain SET ledger_size = ?, frontier = ? WHERE device_pk = ?",
        (acc.size, b"".join(acc.hashes), pk),
    )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()
    return acc


def _load_pg(url: str, pk: int, leaves: int) -> Any:
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    acc = None
    with psycopg.connect(plain, autocommit=False) as conn:
        for records, nodes, acc in _rows(pk, leaves, 200_000):
            with conn.cursor() as cur:
                with cur.copy(
                    "COPY telemetry_record (device_pk, ledger_index, boot_id, seq, device_time, "
                    "received_at, record_type, record_hash, record_json, signature, leaf_hash, "
                    "key_id, outcome, receipt_sig, receipt_key_id) FROM STDIN"
                ) as copy:
                    for r in records:
                        copy.write_row((*r[:4], T0, T0, *r[6:], "k", "accepted", b"\0", "k"))
                with cur.copy("COPY ledger_node (device_pk, level, idx, hash) FROM STDIN") as copy:
                    for n in nodes:
                        copy.write_row(n)
            conn.commit()
            print(f"  loaded {records[-1][1] + 1:,} leaves", file=sys.stderr, flush=True)
        assert acc is not None
        conn.execute(
            "UPDATE device_chain SET ledger_size = %s, frontier = %s WHERE device_pk = %s",
            (acc.size, b"".join(acc.hashes), pk),
        )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE telemetry_record")
        conn.execute("VACUUM ANALYZE ledger_node")
    return acc


def _existing_size(db: str) -> int | None:
    from medwarden.store import open_store

    try:
        with open_store(db, create=False) as store:
            return store.ledger.tree_head(DEVICE)[0]
    except Exception:
        return None


def _fresh_pg(url: str) -> None:
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    base, _, name = plain.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def cmd_proof(args: argparse.Namespace) -> None:
    """Load (or reuse) a shard of ``args.leaves`` and time inclusion proofs."""
    from medwarden.store import open_store
    from medwarden.telemetry.ledger.merkle import verify_inclusion

    db = args.db or str(DATA / f"ledger-{args.leaves}.db")
    is_pg = "://" in db
    if args.fresh or _existing_size(db) != args.leaves:
        print(f"loading {args.leaves:,} leaves into {db} ...", file=sys.stderr)
        if is_pg:
            _fresh_pg(db)
        else:
            DATA.mkdir(parents=True, exist_ok=True)
            for suffix in ("", "-wal", "-shm"):
                Path(db + suffix).unlink(missing_ok=True)
        pk = _prepare_device(db)
        start = time.perf_counter()
        (_load_pg if is_pg else _load_sqlite)(db, pk, args.leaves)
        print(f"load: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    rng = random.Random(7)
    with open_store(db, create=False) as store:
        size, root = store.ledger.tree_head(DEVICE)
        print(f"shard {DEVICE}: {size:,} leaves, root {root.hex()[:16]}... ({db})")
        samples = [rng.randrange(size) for _ in range(args.samples)]
        for _ in range(20):  # warm the connection pool and statement cache
            store.ledger.inclusion_proof(DEVICE, rng.randrange(size), size)
        runs: list[list[float]] = []
        for _run in range(args.runs):
            times = []
            for index in samples:
                start = time.perf_counter()
                proof = store.ledger.inclusion_proof(DEVICE, index, size)
                times.append((time.perf_counter() - start) * 1000)
                h, sig = _synthetic(index)
                from medwarden.telemetry.ledger.checkpoint import record_leaf_hash

                assert verify_inclusion(record_leaf_hash(h, sig), index, size, proof, root)
            runs.append(sorted(times))
        _report_latency("SqlLedger.inclusion_proof", runs)
        with store.ledger._db.read("hashes") as conn:
            by_index = _record_hashes(conn, samples)
        runs = []
        for _run in range(args.runs):
            times = []
            for index in samples:
                start = time.perf_counter()
                found = store.ledger.record_inclusion(DEVICE, by_index[index])
                times.append((time.perf_counter() - start) * 1000)
                assert found.root_hash == root
                assert verify_inclusion(found.leaf_hash, index, size, found.audit_path, root)
            runs.append(sorted(times))
        _report_latency("SqlLedger.record_inclusion (leaf + path + root, one read)", runs)
        _http_proofs(db, store, samples[: args.http_samples], size, root, args.runs)


def _record_hashes(conn: Any, indexes: list[int]) -> dict[int, str]:
    from sqlalchemy import select

    from medwarden.store.schema_telemetry import telemetry_record

    query = select(telemetry_record.c.ledger_index, telemetry_record.c.record_hash).where(
        telemetry_record.c.ledger_index.in_(sorted(set(indexes)))
    )
    return {int(r[0]): str(r[1]) for r in conn.execute(query)}


def _report_latency(label: str, runs: list[list[float]]) -> None:
    medians = [statistics.median(r) for r in runs]
    p99s = [r[int(len(r) * 0.99) - 1] for r in runs]
    print(
        f"{label}: median {statistics.median(medians):.3f} ms, p99 {statistics.median(p99s):.3f} ms"
        f" ({len(runs[0])} random leaves x {len(runs)} runs; per-run medians "
        + ", ".join(f"{m:.3f}" for m in medians)
        + ")"
    )


def _http_proofs(
    db: str, store: Any, samples: list[int], size: int, root: bytes, runs_n: int
) -> None:

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported
    from bench_telemetry_ingest import _free_port, _start_server, _stop_server
    from medwarden.auth.model import Role
    from medwarden.auth.passwords import PasswordHashing
    from medwarden.core.clock import SystemClock
    from medwarden.services.auth import create_token, create_user
    from medwarden.telemetry.ledger.merkle import verify_inclusion

    clock = SystemClock()
    name = f"bench-{os.getpid()}-{time.time_ns()}"
    create_user(
        store.auth,
        name,
        roles=[Role.REGULATORY],
        password="bench password not used",
        actor="bench",
        clock=clock,
        hashing=PasswordHashing(time_cost=1, memory_cost=1024, parallelism=1),
    )
    token = create_token(
        store.auth,
        owner=name,
        name="t",
        roles=[Role.REGULATORY],
        lifetime=timedelta(days=1),
        actor="bench",
        clock=clock,
    ).plaintext
    with store.ledger._db.read("hashes") as conn:
        hashes = _record_hashes(conn, samples)
    port = _free_port()
    server = _start_server(db, 1, port, ["--no-access-log"])
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            stream = sock.makefile("rb")

            path = f"/api/v1/ledger/devices/{DEVICE}/proofs/inclusion"
            auth = f"Host: b\r\nAuthorization: Bearer {token}\r\n\r\n"

            def get(index: int) -> dict[str, Any]:
                target = f"{path}?record_hash={hashes[index]}"
                sock.sendall(f"GET {target} HTTP/1.1\r\n{auth}".encode())
                status = stream.readline()
                length = 0
                while (line := stream.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = stream.read(length)
                assert status.startswith(b"HTTP/1.1 200"), (status, body[:300])
                return dict(orjson.loads(body))

            for index in samples[:20]:
                get(index)
            runs: list[list[float]] = []
            for _ in range(runs_n):
                times = []
                for index in samples:
                    start = time.perf_counter()
                    body = get(index)
                    times.append((time.perf_counter() - start) * 1000)
                    proof = [bytes.fromhex(x) for x in body["audit_path"]]
                    assert body["tree_size"] == size and bytes.fromhex(body["root_hash"]) == root
                    assert verify_inclusion(
                        bytes.fromhex(body["leaf_hash"]), body["leaf_index"], size, proof, root
                    )
                runs.append(sorted(times))
    finally:
        _stop_server(server)
    _report_latency("GET .../proofs/inclusion (medwarden serve, keep-alive HTTP/1.1, token)", runs)


# -- verify ---------------------------------------------------------------------------------


def _server() -> tuple[Ed25519PrivateKey, str]:
    from medwarden.telemetry.devices import key_id, public_key_to_bytes

    key = Ed25519PrivateKey.from_private_bytes(SERVER_SEED)
    return key, key_id(public_key_to_bytes(key.public_key()))


def _device_section(job: tuple[int, int]) -> bytes:
    """Every export line of one device, as the store writes them."""
    from medwarden.telemetry.devices import DeviceKey, KeyState, key_id, public_key_to_bytes
    from medwarden.telemetry.envelope import sign_record
    from medwarden.telemetry.ledger.checkpoint import Checkpoint, record_leaf_hash
    from medwarden.telemetry.ledger.export import checkpoint_line, header_line, record_line
    from medwarden.telemetry.ledger.merkle import MerkleAccumulator
    from medwarden.telemetry.receipts import Receipt, ReceiptSigner
    from medwarden.telemetry.records import GENESIS, DeviceRecord, RecordType

    number, count = job
    device_id = f"pump-{number:04d}"
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(device_id.encode()).digest())
    public = public_key_to_bytes(key.public_key())
    server, server_id = _server()
    signer = ReceiptSigner(server, server_id)
    dkey = DeviceKey(key_id(public), public, KeyState.ACTIVE, T0)
    lines = [
        header_line(device_id, [dkey], {server_id: public_key_to_bytes(server.public_key())}, count)
    ]
    acc = MerkleAccumulator()
    prev = GENESIS
    for seq in range(count):
        when = T0 + timedelta(minutes=5 * seq)
        rec = DeviceRecord(
            device_id,
            "boot-1",
            seq,
            when,
            prev,
            RecordType.SENSOR_READING,
            {"glucose_mg_dl": 80 + (seq * 7) % 120, "sensor_id": "cgm-1", "quality": "ok"},
        )
        signed = sign_record(key, rec)
        prev = signed.hash
        received = when + timedelta(seconds=2)
        receipt = signer.sign(
            Receipt(device_id, "boot-1", seq, prev, "accepted", seq, received, server_id)
        )
        acc.append(record_leaf_hash(prev, signed.signature))
        lines.append(
            record_line(seq, received, "accepted", dkey.key_id, signed.to_json(), receipt.to_json())
        )
    cp = Checkpoint(device_id, count, acc.root(), T0 + timedelta(days=60), server_id).sign(server)
    lines.append(checkpoint_line(cp))
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def cmd_verify(args: argparse.Namespace) -> None:
    """Generate (or reuse) the export and time ``medwarden ledger verify`` on it."""
    path = Path(args.export or DATA / f"export-{args.devices}x{args.records}.jsonl")
    if args.fresh or not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as out, multiprocessing.Pool(os.cpu_count()) as pool:
            jobs = [(n, args.records) for n in range(args.devices)]
            for chunk in pool.imap(_device_section, jobs):
                out.write(chunk)
        tmp.rename(path)
        print(f"generated {path} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    size = path.stat().st_size
    total = args.devices * args.records
    print(f"export: {path} ({size / 1e6:.0f} MB, {total:,} records, {args.devices} devices)")
    _, server_id = _server()
    from medwarden.core.b64 import b64url_encode
    from medwarden.telemetry.devices import public_key_to_bytes

    pin = f"{server_id}={b64url_encode(public_key_to_bytes(_server()[0].public_key()))}"
    variants = [("ledger verify", [])]
    if not args.skip_signatures:
        variants.append(("ledger verify --signatures", ["--signatures"]))
    for label, extra in variants:
        times = []
        for _ in range(args.runs if not extra else args.signature_runs):
            start = time.perf_counter()
            done = subprocess.run(
                [*CLI, "ledger", "verify", str(path), "--server-key", pin, *extra],
                capture_output=True,
                text=True,
                check=False,
            )
            times.append(time.perf_counter() - start)
            if done.returncode != 0:
                raise SystemExit(f"{label} failed: {done.stdout}{done.stderr}")
        print(done.stdout.strip())
        print(
            _median_line(f"{label} ({total:,} records, whole CLI process)", times)
            + f" -> {total / statistics.median(times):,.0f} records/s"
        )


# -- roundtrip ------------------------------------------------------------------------------


def cmd_roundtrip(args: argparse.Namespace) -> None:
    """Real store -> export -> verify, and the generated format equals the store's."""
    import tempfile

    from medwarden.core.clock import FixedClock
    from medwarden.keys import load_or_create_signer
    from medwarden.services.telemetry import ingest_batch, register_device
    from medwarden.store import open_store
    from medwarden.telemetry.devices import DeviceRegistration, public_key_to_bytes
    from medwarden.telemetry.envelope import record_hash, sign_record
    from medwarden.telemetry.records import GENESIS, DeviceRecord, RecordType

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "rt.db")
        env = {**os.environ, "MEDWARDEN_LEDGER_KEY": str(Path(tmp) / "ledger.pem")}
        signer = load_or_create_signer(Path(tmp) / "ledger.pem")
        now = datetime.now(UTC).replace(microsecond=0)
        with open_store(db) as store:
            store.devices.set_model("bench-pump", {}, at=now, actor="bench")
            for n in range(args.devices):
                device_id = f"pump-{n:04d}"
                register_device(
                    store.devices,
                    DeviceRegistration(device_id, "bench-pump", f"S{n}", "1.0"),
                    clock=FixedClock(now),
                    actor="bench",
                )
                key = Ed25519PrivateKey.generate()
                store.devices.enroll_key(
                    device_id, public_key_to_bytes(key.public_key()), at=now, actor="bench"
                )
                prev, items = GENESIS, []
                for seq in range(args.records):
                    rec = DeviceRecord(
                        device_id,
                        "boot-1",
                        seq,
                        now - timedelta(seconds=args.records - seq),
                        prev,
                        RecordType.SENSOR_READING,
                        {"glucose_mg_dl": 80 + seq % 120, "sensor_id": "cgm-1", "quality": "ok"},
                    )
                    items.append(sign_record(key, rec).to_json())
                    prev = record_hash(rec)
                for i in range(0, len(items), 100):
                    results = ingest_batch(
                        store.ledger,
                        signer,
                        device_id,
                        items[i : i + 100],
                        clock=FixedClock(now),
                        transport="https",
                    )
                    assert all(r.status == "accepted" for r in results)
        out = Path(tmp) / "export.jsonl"
        for argv in (
            ["ledger", "checkpoint", "--db", db],
            ["ledger", "export", "-o", str(out), "--db", db],
        ):
            subprocess.run([*CLI, *argv], env=env, check=True, capture_output=True)
        start = time.perf_counter()
        done = subprocess.run(
            [*CLI, "ledger", "verify", str(out), "--signatures"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        took = time.perf_counter() - start
        print(done.stdout.strip() or done.stderr.strip())
        if done.returncode != 0:
            raise SystemExit("roundtrip export does not verify")
        total = args.devices * args.records
        print(
            f"roundtrip: {total:,} records stored -> exported -> verified with signatures in "
            f"{took:.2f} s"
        )
        generated = [orjson.loads(x) for x in _device_section((0, 3)).splitlines()]
        stored = [orjson.loads(x) for x in out.read_bytes().splitlines()[:2]]
        for ours, theirs in ((generated[0], stored[0]), (generated[1], stored[1])):
            assert set(ours) == set(theirs), set(ours) ^ set(theirs)
        assert set(generated[1]["receipt"]) == set(stored[1]["receipt"])
        assert set(generated[1]["envelope"]) == set(stored[1]["envelope"])
        print("roundtrip: generated export lines have the store's format (same keys per line)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("proof", help="inclusion proofs on a bulk-loaded shard")
    p.add_argument("--leaves", type=int, default=10_000_000)
    p.add_argument("--db", help="SQLite path or PostgreSQL URL (default: benchmarks/.data/)")
    p.add_argument("--samples", type=int, default=2000, help="random leaves per run")
    p.add_argument("--http-samples", type=int, default=500)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--fresh", action="store_true", help="reload even if the shard exists")
    p.set_defaults(func=cmd_proof)
    v = sub.add_parser("verify", help="time `medwarden ledger verify` on a generated export")
    v.add_argument("--devices", type=int, default=100)
    v.add_argument("--records", type=int, default=10_000, help="records per device")
    v.add_argument("--export", help="export file (default: benchmarks/.data/)")
    v.add_argument("--runs", type=int, default=3)
    v.add_argument("--signature-runs", type=int, default=1)
    v.add_argument("--skip-signatures", action="store_true")
    v.add_argument("--fresh", action="store_true")
    v.set_defaults(func=cmd_verify)
    r = sub.add_parser("roundtrip", help="store -> export -> verify at a small scale")
    r.add_argument("--devices", type=int, default=4)
    r.add_argument("--records", type=int, default=2000)
    r.set_defaults(func=cmd_roundtrip)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
