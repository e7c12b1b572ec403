"""The tables of the closed-loop backend: devices, keys, records, ledger (migration 0008).

Every telemetry table is keyed by ``device_pk`` first, so PostgreSQL can partition them by
hash of the device (and Citus distribute them) without a redesign: their primary keys and
unique constraints all include ``device_pk``.

* ``device_model`` -- a model and its check limits (JSON overrides of the defaults).
* ``device`` -- the registry: model, serial, versions, controller, the release it runs
  (its SBOM), a pseudonymous patient reference and the SHA-256 of its HTTPS credential.
* ``device_key`` -- Ed25519 public keys and their lifecycle (one active per device).
* ``device_chain`` -- the chain head (:class:`~medwarden.telemetry.chain.ChainState`
  without its caches) and the ledger frontier (compact range) of each device.
* ``telemetry_record`` -- accepted records, by (device, ledger index): canonical record
  JSON, the device's signature, the leaf hash and the signature of the receipt.
* ``ledger_node`` -- every completed interior node (level >= 1) of each device's tree, so
  an inclusion or consistency proof costs O(log n) point reads.
* ``ledger_checkpoint`` -- signed tree heads; ``server_key`` -- the public keys receipts
  and checkpoints are signed with (the private key is a file, never in the database).
* ``telemetry_event`` -- security events: rejected envelopes and chain findings.
* ``early_warning`` -- early warnings of the checks (``docs/warnings.md``): per device
  (``device_pk``, unique ``dedupe_key`` per device) or fleet-wide (``device_pk`` NULL,
  ``dedupe_key`` unique among them), open or acknowledged.
* ``device_check_run`` -- per device, the ``now`` of the last check run
  (``previous_run``) and how much of its ledger the checks have seen (``checked_size``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from medwarden.store._metadata import METADATA, PK, UtcDateTime

__all__ = [
    "device",
    "device_chain",
    "device_check_run",
    "device_key",
    "device_model",
    "early_warning",
    "ledger_checkpoint",
    "ledger_node",
    "server_key",
    "telemetry_event",
    "telemetry_record",
]

_KEY_ACTIVE = "state = 'active'"

device_model = Table(
    "device_model",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("limits_json", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
"""A device model and its check limits."""

device = Table(
    "device",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("device_id", Text, nullable=False, unique=True),
    Column("model_pk", PK, ForeignKey("device_model.pk"), nullable=False),
    Column("serial", Text, nullable=False),
    Column("software_version", Text, nullable=False),
    Column("firmware_version", Text),
    Column("controller_algorithm", Text),
    Column("controller_version", Text),
    Column("release_pk", PK, ForeignKey("release.pk")),
    Column("patient_ref", Text),
    Column("status", Text, nullable=False),
    Column("credential_sha256", Text, unique=True),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "release_pk"),
    Index(None, "software_version"),
    CheckConstraint("status IN ('active', 'retired')", name="status_known"),
)
"""The device registry."""

device_key = Table(
    "device_key",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("device_pk", PK, ForeignKey("device.pk"), nullable=False),
    Column("key_id", Text, nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("state", Text, nullable=False),
    Column("enrolled_at", UtcDateTime, nullable=False),
    Column("retired_at", UtcDateTime),
    Column("reason", Text),
    UniqueConstraint("device_pk", "key_id"),
    Index(
        None,
        "device_pk",
        unique=True,
        sqlite_where=text(_KEY_ACTIVE),
        postgresql_where=text(_KEY_ACTIVE),
    ),
    CheckConstraint("state IN ('active', 'rotated', 'revoked')", name="state_known"),
)
"""A device's Ed25519 public keys (at most one active)."""

device_chain = Table(
    "device_chain",
    METADATA,
    Column("device_pk", PK, ForeignKey("device.pk"), primary_key=True),
    Column("state_json", Text),
    Column("ledger_size", BigInteger, nullable=False),
    Column("frontier", LargeBinary, nullable=False),
    Column("last_received_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
)
"""The chain head and ledger frontier of each device (one row per device, locked by ingest)."""

telemetry_record = Table(
    "telemetry_record",
    METADATA,
    Column("device_pk", PK, ForeignKey("device.pk"), nullable=False),
    Column("ledger_index", BigInteger, nullable=False),
    Column("boot_id", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("device_time", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("record_type", Text, nullable=False),
    Column("record_hash", Text, nullable=False),
    Column("record_json", Text, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("receipt_sig", LargeBinary, nullable=False),
    Column("receipt_key_id", Text, nullable=False),
    PrimaryKeyConstraint("device_pk", "ledger_index"),
    UniqueConstraint("device_pk", "record_hash"),
    UniqueConstraint("device_pk", "boot_id", "seq"),
    Index(None, "device_pk", "device_time"),
)
"""Accepted device records in ledger order."""

ledger_node = Table(
    "ledger_node",
    METADATA,
    Column("device_pk", PK, ForeignKey("device.pk"), nullable=False),
    Column("level", Integer, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    PrimaryKeyConstraint("device_pk", "level", "idx"),
)
"""Interior node ``idx`` at ``level`` (covering leaves ``idx*2^level ..``) of a shard."""

ledger_checkpoint = Table(
    "ledger_checkpoint",
    METADATA,
    Column("device_pk", PK, ForeignKey("device.pk"), nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    PrimaryKeyConstraint("device_pk", "tree_size"),
)
"""Signed tree heads of device shards."""

server_key = Table(
    "server_key",
    METADATA,
    Column("key_id", Text, primary_key=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)
"""Public halves of the server's receipt and checkpoint keys."""

telemetry_event = Table(
    "telemetry_event",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("device_pk", PK, ForeignKey("device.pk")),
    Column("device_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("transport", Text, nullable=False),
    Column("boot_id", Text),
    Column("seq", BigInteger),
    Column("record_hash", Text),
    Column("missing_lo", BigInteger),
    Column("missing_hi", BigInteger),
    Column("detail", Text, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Index(None, "device_pk", "pk"),
    Index(None, "kind", "pk"),
)
"""Security events about submitted envelopes (rejections and chain findings)."""

_FLEET = "device_pk IS NULL"

early_warning = Table(
    "early_warning",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("device_pk", PK, ForeignKey("device.pk")),
    Column("check_id", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("evidence_json", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("software_version", Text, nullable=False),
    Column("patient_ref", Text),
    Column("dedupe_key", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("acknowledged_by", Text),
    Column("acknowledged_at", UtcDateTime),
    Column("note", Text),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("device_pk", "dedupe_key"),
    Index(
        None,
        "dedupe_key",
        unique=True,
        sqlite_where=text(_FLEET),
        postgresql_where=text(_FLEET),
    ),
    Index(None, "device_pk", "pk"),
    Index(None, "state", "pk"),
    CheckConstraint("state IN ('open', 'acknowledged')", name="state_known"),
    CheckConstraint(
        "severity IN ('info', 'low', 'medium', 'high', 'critical')", name="severity_known"
    ),
)
"""Early warnings of a device (``device_pk``) or of the fleet (``device_pk`` NULL)."""

device_check_run = Table(
    "device_check_run",
    METADATA,
    Column("device_pk", PK, ForeignKey("device.pk"), primary_key=True),
    Column("previous_run", UtcDateTime, nullable=False),
    Column("checked_size", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
"""Where each device's check runs stand (one row per device, locked by a run's commit)."""
