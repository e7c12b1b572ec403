"""The body of a worker process for the multi-process test (importable under spawn)."""

from __future__ import annotations

import os
import time
from typing import Any

from medwarden.core.clock import SystemClock
from medwarden.jobs.worker import run_worker
from medwarden.services.jobs import Job
from medwarden.store import open_store


def work(url: str, log_path: str, barrier: Any) -> None:
    """Wait for the other worker, then run ``record`` jobs until none is due."""

    def record(job: Job) -> None:
        line = f"{job.args['n']} {job.locked_by}\n".encode()
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line)  # one small O_APPEND write: never interleaved
        finally:
            os.close(fd)
        time.sleep(0.01)

    with open_store(url, create=False) as store:
        barrier.wait(timeout=60)
        run_worker(store, {"record": record}, SystemClock(), until_idle=True, poll_interval=0.05)
