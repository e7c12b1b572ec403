"""HTTP telemetry ingest: signed records/s in batches, and single-record latency.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_telemetry_ingest.py batch  [--db sqlite|URL] [--workers N]
    .venv/bin/python benchmarks/bench_telemetry_ingest.py single [--db sqlite|URL] [--workers N]

Each run starts from a fresh store (a SQLite file under benchmarks/.data, or a PostgreSQL
database created with the URL's name), registers ``--devices`` devices (each with its own
Ed25519 key and ``mwd_`` credential), signs every device's chain *before* timing, starts
``medwarden serve --workers N`` and has every device send its own chain concurrently over
one keep-alive HTTP/1.1 connection per device, in order, one request after the other.

* ``batch``: ``--batch`` records per request, each device sending its next request as
  soon as the previous one is answered (closed loop): the most the server sustains.
* ``single``: one record per request, offered at ``--rate`` requests/s over all devices
  (open loop: device n's k-th request is due at ``start + n/rate + k*devices/rate``), and
  latency measured from when a request was *due*, so time spent waiting behind a slow
  answer counts (no coordinated omission).  ``--rate 0`` is closed loop.

Every request's latency is kept by default, the server's first answers included (it starts
knowing the registered devices' credentials, as ``medwarden serve`` does after any
restart).  ``--warmup N`` drops each device's first N requests from the latency figures
(they still count in records/s and in the stored == acknowledged check), to compare with
earlier figures made that way.  The client's own garbage collector is off while it runs.

The client is a minimal asyncio HTTP client (pre-built request bytes) so that it takes as
little of the 2 cores as possible.  Only ``accepted`` results count; after the run the
server is stopped and the number of stored records must equal the number acknowledged.

Printed per run: accepted records/s (first request due to last answer received),
request latency p50/p99, and the stored == acknowledged check; then the median of runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / ".data"
MEDWARDEN = str(ROOT / ".venv" / "bin" / "medwarden")
PATH = "/api/v1/telemetry/records"


def _device_key(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"bench-device-%d" % n).digest())


def _device_id(n: int) -> str:
    return f"pump-{n:04d}"


def _sign_chain(job: tuple[int, int, float]) -> list[bytes]:
    """The wire bytes of one device's chain of ``count`` records (device time near now)."""
    from medwarden.telemetry.envelope import sign_record
    from medwarden.telemetry.records import GENESIS, DeviceRecord, RecordType

    n, count, start = job
    key = _device_key(n)
    t0 = datetime.fromtimestamp(start, UTC)
    prev, out = GENESIS, []
    for seq in range(count):
        rec = DeviceRecord(
            _device_id(n),
            "boot-1",
            seq,
            t0 + timedelta(milliseconds=10 * seq),
            prev,
            RecordType.SENSOR_READING,
            {"glucose_mg_dl": 80 + (seq * 7) % 120, "sensor_id": "cgm-1", "quality": "ok"},
        )
        signed = sign_record(key, rec)
        out.append(signed.to_wire())
        prev = signed.hash
    return out


def _fresh_db(db: str, tag: str) -> str:
    if db == "sqlite":
        DATA.mkdir(parents=True, exist_ok=True)
        path = DATA / f"ingest-{tag}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return str(path)
    import psycopg

    plain = db.replace("postgresql+psycopg://", "postgresql://")
    base, _, name = plain.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return db


def _register(db: str, devices: int) -> dict[str, str]:
    from medwarden.core.clock import SystemClock
    from medwarden.services.telemetry import register_device
    from medwarden.store import open_store
    from medwarden.telemetry.devices import DeviceRegistration, public_key_to_bytes

    clock = SystemClock()
    creds: dict[str, str] = {}
    with open_store(db) as store:
        store.devices.set_model("bench-pump", {}, at=clock.now(), actor="bench")
        for n in range(devices):
            device_id = _device_id(n)
            issued = register_device(
                store.devices,
                DeviceRegistration(device_id, "bench-pump", f"S{n}", "1.0"),
                clock=clock,
                actor="bench",
            )
            store.devices.enroll_key(
                device_id,
                public_key_to_bytes(_device_key(n).public_key()),
                at=clock.now() - timedelta(hours=1),
                actor="bench",
            )
            creds[device_id] = issued.secret
    return creds


def _stored(db: str) -> tuple[int, int]:
    from sqlalchemy import func, select

    from medwarden.store import open_store
    from medwarden.store.schema_telemetry import telemetry_event, telemetry_record

    with open_store(db, create=False) as store, store.ledger._db.read("count") as conn:
        records = conn.execute(select(func.count()).select_from(telemetry_record)).scalar_one()
        events = conn.execute(select(func.count()).select_from(telemetry_event)).scalar_one()
    return int(records), int(events)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(db: str, workers: int, port: int, extra: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MEDWARDEN_LEDGER_KEY": str(DATA / "bench-ledger.pem")}
    proc = subprocess.Popen(
        [MEDWARDEN, "serve", "--db", db, "--port", str(port), "--workers", str(workers), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(DATA / "server.log", "wb"),  # noqa: SIM115 - closed with the process
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    # with several workers, give each a moment to finish starting
                    time.sleep(1.0 if workers > 1 else 0.2)
                    return proc
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {(DATA / 'server.log').read_text()[-2000:]}")
        time.sleep(0.2)
    raise SystemExit("server did not start")


def _stop_server(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _device(
    port: int,
    requests: list[bytes],
    latencies: list[float],
    counts: dict[str, int],
    schedule: tuple[float, float] | None,
    warmup: int,
) -> None:
    """Send one device's requests in order on one connection.

    ``schedule`` None: each request as soon as the previous one is answered (closed loop).
    ``(first, interval)``: request k is due at ``first + k * interval`` (perf_counter
    time; open loop) and its latency is measured from when it was due, so a server that
    falls behind is charged for the wait too (no coordinated omission)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for k, request in enumerate(requests):
            start = time.perf_counter()
            if schedule is not None:
                due = schedule[0] + k * schedule[1]
                if due > start:
                    await asyncio.sleep(due - start)
                start = due
            writer.write(request)
            status, body = await _read_response(reader)
            if k >= warmup:
                latencies.append(time.perf_counter() - start)
            if status != 200:
                counts["http_errors"] += 1
                counts.setdefault("first_error", body[:300])  # type: ignore[arg-type]
                continue
            for result in orjson.loads(body)["results"]:
                counts[result["status"]] = counts.get(result["status"], 0) + 1
    finally:
        writer.close()


def _requests(secret: str, port: int, wires: list[bytes], batch: int) -> list[bytes]:
    out = []
    for i in range(0, len(wires), batch):
        body = b'{"records":[' + b",".join(wires[i : i + batch]) + b"]}"
        out.append(
            b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (PATH.encode(), port, secret.encode(), len(body))
            + body
        )
    return out


async def _drive(
    port: int, per_device: list[list[bytes]], rate: float, warmup: int
) -> tuple[float, list[float], dict]:
    """Run every device; ``rate`` > 0 offers that many requests/s in total, evenly spread
    (device n's first request is due n/rate after the start), else closed loop."""
    latencies: list[float] = []
    counts: dict[str, Any] = {"http_errors": 0}
    start = time.perf_counter() + 0.2  # every connection opened before the first is due
    devices = len(per_device)

    def schedule(n: int) -> tuple[float, float] | None:
        return None if rate <= 0 else (start + n / rate, devices / rate)

    await asyncio.gather(
        *(
            _device(port, reqs, latencies, counts, schedule(n), warmup)
            for n, reqs in enumerate(per_device)
        )
    )
    return time.perf_counter() - start, latencies, counts


def run_once(args: argparse.Namespace, batch: int, tag: str) -> dict[str, Any]:
    """One complete run on a fresh store; returns its figures."""
    db = _fresh_db(args.db, tag)
    creds = _register(db, args.devices)
    start_time = time.time()
    jobs = [(n, args.records, start_time) for n in range(args.devices)]
    with multiprocessing.Pool(os.cpu_count()) as pool:
        chains = pool.map(_sign_chain, jobs)
    port = _free_port()
    per_device = [
        _requests(creds[_device_id(n)], port, chains[n], batch) for n in range(args.devices)
    ]
    server = _start_server(db, args.workers, port, args.serve_arg or [])
    try:
        # the load generator's own collector pauses would count as server latency
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            wall, latencies, counts = asyncio.run(_drive(port, per_device, args.rate, args.warmup))
        finally:
            gc.enable()
            gc.unfreeze()
    finally:
        _stop_server(server)
    stored, events = _stored(db)
    accepted = counts.get("accepted", 0)
    latencies.sort()
    figures = {
        "accepted": accepted,
        "rejected": counts.get("rejected", 0),
        "http_errors": counts["http_errors"],
        "wall": wall,
        "rate": accepted / wall,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "stored": stored,
        "events": events,
    }
    check = "OK" if stored == accepted else "MISMATCH"
    print(
        f"  run {tag}: {accepted:,} accepted in {wall:.2f} s = {figures['rate']:,.0f} records/s; "
        f"{len(latencies):,} requests, p50 {figures['p50_ms']:.1f} ms, "
        f"p99 {figures['p99_ms']:.1f} ms; rejected {figures['rejected']}, "
        f"HTTP errors {figures['http_errors']}; stored {stored:,} == acknowledged {accepted:,}: "
        f"{check}; security events {events}",
        flush=True,
    )
    if "first_error" in counts:
        print(f"  first error: {counts['first_error']!r}")
    if stored != accepted:
        raise SystemExit("stored count differs from acknowledged count")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["batch", "single"])
    parser.add_argument("--db", default="sqlite", help="'sqlite' (a fresh file) or a PG URL")
    parser.add_argument("--devices", type=int, help="default: 100 (batch), 200 (single)")
    parser.add_argument("--records", type=int, help="records per device (default 1000 / 120)")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="medwarden serve --workers")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--rate",
        type=float,
        help="single: offered requests/s over all devices, open loop (default 1500; 0 = each "
        "device sends as soon as answered); batch: always closed loop",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="requests per device sent (and counted in records/s) before latency is kept",
    )
    parser.add_argument("--serve-arg", action="append", help="extra `medwarden serve` option")
    args = parser.parse_args(argv)
    single = args.mode == "single"
    args.devices = args.devices or (200 if single else 100)
    args.records = args.records or (120 if single else 1000)
    args.rate = (1500.0 if args.rate is None else args.rate) if single else 0.0
    batch = 1 if single else args.batch
    backend = "sqlite" if args.db == "sqlite" else "postgresql"
    offered = f"offered {args.rate:,.0f} requests/s (open loop)" if args.rate else "closed loop"
    print(
        f"{args.mode}: {args.devices} devices x {args.records} records, {batch} per request, "
        f"{offered}, latency after {args.warmup} requests per device, {backend}, "
        f"medwarden serve --workers {args.workers} "
        f"{' '.join(args.serve_arg or [])}",
        flush=True,
    )
    runs = [run_once(args, batch, f"{args.mode}-{i}") for i in range(args.runs)]
    rates = [r["rate"] for r in runs]
    print(
        f"{args.mode} {backend} workers={args.workers}: median {statistics.median(rates):,.0f} "
        f"records/s (runs: {', '.join(f'{r:,.0f}' for r in rates)}); "
        f"p50 median {statistics.median(r['p50_ms'] for r in runs):.1f} ms, "
        f"p99 median {statistics.median(r['p99_ms'] for r in runs):.1f} ms "
        f"(runs: {', '.join(f'{x:.1f}' for x in (r['p99_ms'] for r in runs))})"
    )


if __name__ == "__main__":
    main()
