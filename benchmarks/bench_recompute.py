"""Re-computation throughput: oref0 0.7.1 determine-basal decisions/s with the real runner.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_recompute.py [--decisions 2000] [--runners 1 2] [--runs 3]

Builds ``controller_decision`` bodies from the recorded oref0 scenarios of
``tests/fixtures/oref0`` (inputs plus oref0's own output, normalised), and re-computes them
with :func:`medwarden.telemetry.recompute.recompute_decision` through
:class:`Oref0Runner` (one long-lived Node process per runner, the shipped harness).
Every decision must come back ``match``.  ``--runners N`` uses N runners (N Node
processes) fed by N threads, the way a checker would spread the work over cores.
Printed: decisions/s per run, the median, and the per-decision latency (1 runner).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "oref0"
SCENARIOS = ("low_falling", "high_rising", "high_iob_over_max", "smb_high", "in_range_running_temp")


def _bodies() -> list[dict[str, Any]]:
    from medwarden.telemetry.controllers.oref0 import ALGORITHM, VERSION, normalise_output

    out = []
    for name in SCENARIOS:
        data = json.loads((FIXTURES / f"{name}.json").read_text())
        out.append(
            {
                "algorithm": ALGORITHM,
                "algorithm_version": VERSION,
                "inputs": data["inputs"],
                "output": normalise_output(data["cli_output"]),
            }
        )
    return out


def _run(runners: list[Any], bodies: list[dict[str, Any]], count: int) -> tuple[float, list[float]]:
    from medwarden.telemetry.recompute import Verdict, recompute_decision

    latencies: list[float] = []
    failures: list[str] = []
    share = count // len(runners)

    def work(runner: Any) -> None:
        lookup = lambda _a, _v: runner  # noqa: E731 - one runner per thread
        for i in range(share):
            start = time.perf_counter()
            result = recompute_decision(bodies[i % len(bodies)], lookup)
            latencies.append(time.perf_counter() - start)
            if result.verdict is not Verdict.MATCH:
                failures.append(f"{result.verdict}: {result.reason}")

    threads = [threading.Thread(target=work, args=(r,)) for r in runners]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if failures:
        raise SystemExit(f"{len(failures)} decisions did not match, first: {failures[0]}")
    return share * len(runners) / wall, sorted(latencies)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=2000, help="decisions per run")
    parser.add_argument("--runners", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--oref0-dir", help="default: MEDWARDEN_OREF0_DIR or the user cache")
    args = parser.parse_args(argv)

    from medwarden.telemetry.controllers.oref0 import Oref0Runner

    bodies = _bodies()
    for n in args.runners:
        runners = [Oref0Runner(args.oref0_dir) for _ in range(n)]
        try:
            for r in runners:
                r.hello()
            _run(runners, bodies, 50 * n)  # warm-up: Node's JIT
            rates, p50s, p99s = [], [], []
            for _ in range(args.runs):
                rate, lat = _run(runners, bodies, args.decisions)
                rates.append(rate)
                p50s.append(lat[len(lat) // 2] * 1000)
                p99s.append(lat[int(len(lat) * 0.99) - 1] * 1000)
                print(f"  {n} runner(s): {rate:,.0f} decisions/s", flush=True)
            print(
                f"oref0 {n} runner(s): median {statistics.median(rates):,.0f} decisions/s "
                f"(runs: {', '.join(f'{r:,.0f}' for r in rates)}); per decision p50 "
                f"{statistics.median(p50s):.2f} ms, p99 {statistics.median(p99s):.2f} ms"
            )
        finally:
            for r in runners:
                r.close()


if __name__ == "__main__":
    sys.exit(main())
