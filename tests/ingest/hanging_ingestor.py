"""A child process for the kill test: an ingestor whose port never commits.

Reads a JSON spec on stdin, subscribes, touches ``ready``; the port touches ``entered``
and then blocks until the test kills the process with SIGKILL.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from medwarden.ingest.mqtt import BrokerEndpoint, Credentials, IngestSettings, MqttIngestor
from medwarden.telemetry.receipts import IngestResult


def main() -> None:
    spec = json.loads(sys.stdin.read())
    forever = threading.Event()

    def port(device_id: str, envelopes: Sequence[object]) -> Sequence[IngestResult]:
        Path(spec["entered"]).touch()
        forever.wait()
        return []

    settings = IngestSettings(
        endpoint=BrokerEndpoint(spec["host"], spec["port"], Path(spec["ca_file"])),
        credentials=Credentials(spec["username"], spec["password"]),
        client_id=spec["username"],
        session_expiry=300,
    )
    ingestor = MqttIngestor(settings, port)
    ingestor.start()
    if not ingestor.wait_subscribed(15):
        sys.exit(2)
    Path(spec["ready"]).touch()
    forever.wait()


if __name__ == "__main__":
    main()
