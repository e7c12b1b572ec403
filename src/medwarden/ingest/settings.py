"""Settings and counters of :class:`medwarden.ingest.mqtt.MqttIngestor`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from medwarden.core.backoff import BackoffPolicy
from medwarden.errors import ConfigError
from medwarden.ingest._paho import BrokerEndpoint, Credentials
from medwarden.ingest.wire import MAX_BATCH_BYTES, MAX_BATCH_RECORDS

__all__ = ["IngestSettings", "IngestStats"]

_MAX_SESSION_EXPIRY = 2**32 - 1


def _default_backoff() -> BackoffPolicy:
    return BackoffPolicy(base=timedelta(seconds=0.5), cap=timedelta(seconds=30), max_attempts=1)


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """How the ingestor reaches the broker and what it accepts.

    ``client_id`` (default: the username) keys the persistent session, so it must stay the
    same across restarts; the generated broker configuration forces it to the username
    anyway.  ``session_expiry`` (seconds) is how long the broker keeps queueing for a
    stopped ingestor.  ``backoff`` spaces reconnects after a lost connection or a
    transient port failure (its ``max_attempts`` is ignored: the ingestor never gives up).
    """

    endpoint: BrokerEndpoint
    credentials: Credentials
    client_id: str | None = None
    session_expiry: int = 7 * 24 * 3600
    max_payload_bytes: int = MAX_BATCH_BYTES
    max_records: int = MAX_BATCH_RECORDS
    backoff: BackoffPolicy = field(default_factory=_default_backoff)

    def __post_init__(self) -> None:
        """Refuse limits that could never accept a batch."""
        if not 0 < self.session_expiry <= _MAX_SESSION_EXPIRY:
            raise ConfigError("MQTT session expiry must be 1 s to 2**32-1 s")
        if self.max_payload_bytes < 1024 or not 1 <= self.max_records <= MAX_BATCH_RECORDS:
            raise ConfigError(
                f"MQTT batch limits need >= 1024 bytes and 1 to {MAX_BATCH_RECORDS} records"
            )


@dataclass(frozen=True, slots=True)
class IngestStats:
    """Counters since start: batches answered, of which rejected whole, and retries."""

    answered: int = 0
    rejected: int = 0
    retries: int = 0

    def bump(self, *, answered: int = 0, rejected: int = 0, retries: int = 0) -> IngestStats:
        """A copy with the counters raised."""
        return IngestStats(
            answered=self.answered + answered,
            rejected=self.rejected + rejected,
            retries=self.retries + retries,
        )
