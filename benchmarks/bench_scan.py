"""Benchmark the scanning engine on a full-size generated mirror (issue 2 figures).

Measures, on this machine:
  (a) load rate of ``medwarden intel load`` end to end (CLI process, parse + store),
      records per second, on a fresh SQLite store (and PostgreSQL with --pg URL);
  (b) scan of a 1,000-component SBOM: matching time in-process (index queries +
      evaluation, SBOM already read; the first run on a fresh store is the one a CLI
      process sees) and wall time of the whole ``medwarden scan`` CLI process (median
      of --repeat runs) -- for the realistic SBOM (25% of components with advisories)
      and the worst case (all of them), see generate_mirror.py;
  (c) peak resident memory of the scan processes (getrusage of the children).

Usage:
  python benchmarks/generate_mirror.py            # once: writes benchmarks/.data/
  python benchmarks/bench_scan.py [--pg URL] [--skip-load]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / ".data"
MEDWARDEN = [str(Path(sys.executable).parent / "medwarden")]


def _machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{platform.node()}: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def _run(args: list[str], db: str) -> tuple[float, int, float]:
    """Run a CLI process; return (wall seconds, exit code, its peak RSS in MB)."""
    env = {**os.environ, "MEDWARDEN_DB": db}
    start = time.perf_counter()
    process = subprocess.Popen(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    errors = process.stderr.read() if process.stderr is not None else b""
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.stderr.write(errors.decode())
        raise SystemExit(f"{' '.join(args)} exited {code}")
    return elapsed, code, usage.ru_maxrss / 1024


def bench_load(db: str) -> dict[str, float]:
    """Load every generated file through the CLI and return records/s."""
    paths = [str(DATA / "nvd"), str(DATA / "osv")]
    elapsed, _, _ = _run([*MEDWARDEN, "intel", "load", *paths], db)
    total = _count_records()
    return {"records": total, "seconds": round(elapsed, 2), "records_per_s": round(total / elapsed)}


def _count_records() -> int:
    meta = DATA / "meta.json"
    if meta.exists():
        counts = json.loads(meta.read_text())
        return int(counts["nvd"]) + int(counts["osv"])
    raise SystemExit("benchmarks/.data/meta.json missing: run generate_mirror.py")


def _match_once(db: str, sbom: Path) -> None:
    """In a fresh process: read the SBOM, open the store, time one match_sbom, print it."""
    from medwarden.matching.engine import match_sbom
    from medwarden.sbom.reading import read_sbom_file
    from medwarden.store.db import open_store

    read = read_sbom_file(sbom)
    store = open_store(db, create=False)
    start = time.perf_counter()
    outcome = match_sbom(read.sbom, store)
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "findings": len(outcome.findings)}))


def bench_matching(db: str, sbom: Path, repeat: int) -> dict[str, float]:
    """Time match_sbom (index lookups + evaluation + folding), SBOM already read.

    Each run is a new process, so every cache starts empty as in a CLI run; the
    operating system's file cache is warm (the store was just loaded or scanned)."""
    runs = []
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, __file__, "--match-once", db, str(sbom)],
            capture_output=True,
            check=True,
        )
        runs.append(json.loads(done.stdout))
    timings = [run["seconds"] for run in runs]
    return {
        "findings": runs[-1]["findings"],
        "matching_s_median": round(statistics.median(timings), 4),
        "matching_s_max": round(max(timings), 4),
    }


def bench_cli_scan(db: str, sbom: Path, repeat: int) -> dict[str, float]:
    """Time the whole ``medwarden scan`` process and record its own peak RSS."""
    walls, peaks = [], []
    for _ in range(repeat):
        args = [*MEDWARDEN, "scan", str(sbom), "--format", "json", "--output", os.devnull]
        elapsed, _, peak = _run([*args, "--fail-on", "none"], db)
        walls.append(elapsed)
        peaks.append(peak)
    return {
        "cli_s_median": round(statistics.median(walls), 3),
        "cli_s_max": round(max(walls), 3),
        "peak_rss_mb": round(max(peaks), 1),
    }


def main() -> None:
    """Run the benchmarks and print one JSON document of figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(DATA / "bench.db"))
    parser.add_argument("--pg", default=None, help="also measure loading into this PostgreSQL URL")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--match-once", nargs=2, metavar=("DB", "SBOM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.match_once:
        _match_once(args.match_once[0], Path(args.match_once[1]))
        return
    sbom = DATA / "sbom-1000.cdx.json"
    results: dict[str, object] = {"machine": _machine()}
    if not args.skip_load:
        for suffix in ("", "-wal", "-shm"):
            Path(args.db + suffix).unlink(missing_ok=True)
        results["load_sqlite"] = bench_load(args.db)
        if args.pg:
            results["load_postgresql"] = bench_load(args.pg)
    for label, path in (("realistic", sbom), ("worst_case", DATA / "sbom-1000-worst.cdx.json")):
        results[f"matching_{label}"] = bench_matching(args.db, path, args.repeat)
        results[f"cli_scan_{label}"] = bench_cli_scan(args.db, path, args.repeat)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
