"""The tables of the intelligence mirror, as SQLAlchemy 2 Core metadata.

Matching criteria stay symbolic: an advisory's whole domain value lives in
``advisory.payload`` (compact JSON, see :mod:`medwarden.store.codec`); the small
index tables only say *which keys* an advisory can match, so a lookup by
(ecosystem family, name) or (CPE vendor, product) reads a handful of index rows
and never an expanded version list.

Only portable types are used so the same metadata serves SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
)

from medwarden.store._metadata import METADATA, PK, UtcDateTime

__all__ = [
    "METADATA",
    "UtcDateTime",
    "advisory",
    "advisory_cpe",
    "advisory_package",
    "alias",
    "audit_event",
    "epss",
    "kev",
    "source_state",
]

advisory = Table(
    "advisory",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("record_id", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("modified", UtcDateTime, nullable=False),
    Column("published", UtcDateTime),
    Column("withdrawn", UtcDateTime),
    Column("status", Text),
    Column("summary", Text),
    Column("payload", LargeBinary, nullable=False),
    Column("fetched_at", UtcDateTime),
    Column("digest", Text),
    Column("origin", Text),
    Column("license", Text),
    # Which write batch last inserted or replaced the row (re-evaluation reads past it).
    Column("change_seq", BigInteger),
    Index(None, "change_seq"),
    # (record_id, source): also serves lookups by record id alone (aliases, summaries).
    UniqueConstraint("record_id", "source"),
)
"""One row per (source, record id): the newest copy seen, payload included."""

advisory_package = Table(
    "advisory_package",
    METADATA,
    Column(
        "advisory_pk",
        PK,
        ForeignKey("advisory.pk", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("ecosystem", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("family", Text, nullable=False),
    Index(None, "family", "name"),
)
"""Which (ecosystem family, canonical name) keys an advisory's ``affected[]`` names."""

advisory_cpe = Table(
    "advisory_cpe",
    METADATA,
    Column(
        "advisory_pk",
        PK,
        ForeignKey("advisory.pk", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("vendor", Text, primary_key=True),
    Column("product", Text, primary_key=True),
    Column("platform", Boolean, primary_key=True),
    Index(None, "vendor", "product"),
)
"""Which CPE (vendor, product) keys an advisory's configurations name.

``platform`` is false for vulnerable ``cpeMatch`` criteria and true for the
non-vulnerable criteria of ``AND`` configurations (the platform the vulnerable
software must run on); non-vulnerable criteria of ``OR`` configurations are not indexed.
"""

alias = Table(
    "alias",
    METADATA,
    Column(
        "advisory_pk",
        PK,
        ForeignKey("advisory.pk", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("a", Text, primary_key=True),
    Column("b", Text, primary_key=True),
    Index(None, "a"),
)
"""Alias edges, stored both ways (a→b and b→a), owned by the advisory that stated them."""

kev = Table(
    "kev",
    METADATA,
    Column("cve_id", Text, primary_key=True),
    Column("vendor", Text, nullable=False),
    Column("product", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("date_added", UtcDateTime, nullable=False),
    Column("due_date", UtcDateTime),
    Column("known_ransomware", Text),
    Column("required_action", Text),
    Column("change_seq", BigInteger),
    Column("fetched_at", UtcDateTime),
    Column("digest", Text),
    Column("origin", Text),
)
"""The CISA KEV catalog, one row per CVE."""

epss = Table(
    "epss",
    METADATA,
    Column("cve_id", Text, primary_key=True),
    Column("score", Float, nullable=False),
    Column("percentile", Float, nullable=False),
    Column("score_date", UtcDateTime),
    Column("model_version", Text),
    Column("fetched_at", UtcDateTime),
    Column("digest", Text),
    Column("origin", Text),
)
"""The latest FIRST EPSS score per CVE."""

source_state = Table(
    "source_state",
    METADATA,
    Column("source", Text, primary_key=True),
    Column("cursor", Text),
    Column("last_loaded_at", UtcDateTime),
)
"""Per source: how far the incremental sync got and when it last loaded."""

audit_event = Table(
    "audit_event",
    METADATA,
    Column("seq", PK, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("subject_type", Text, nullable=False),
    Column("subject_id", Text, nullable=False),
    Column("before_json", Text),
    Column("after_json", Text),
    Column("reason", Text),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    CheckConstraint("seq >= 1", name="seq_positive"),
)
"""The audit trail, one row per event; append-only (migration 0002 adds triggers refusing
``UPDATE`` and ``DELETE``).  ``before_json``/``after_json`` hold canonical JSON text."""


# The other table groups register themselves on METADATA; import them so that the
# metadata Alembic compares against is always complete.
from medwarden.store import (  # noqa: E402, F401
    schema_auth,
    schema_ops,
    schema_portfolio,
    schema_telemetry,
)
