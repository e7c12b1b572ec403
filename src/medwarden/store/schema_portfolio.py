"""The tables of the device portfolio: products, releases, SBOM revisions, findings, triage.

Components are stored once per *identity* (name, group, version, purl, CPEs) in
``component``, however many releases hold them; ``revision_component`` says which
SBOM revision holds which identity under which document-local ref.  Matching results
are cached per identity in ``component_match`` and fanned out to releases as
``finding`` rows, one per (release, component identity, vulnerability).  So a new
advisory for a component held by 10,000 releases is matched once and becomes
10,000 findings with one ``INSERT ... SELECT``.

Triage decisions are never updated in place: ``decision`` is a history, the finding
points at its current decision, and every change is also an audit event.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
)

from medwarden.store._metadata import METADATA, PK, UtcDateTime

__all__ = [
    "component",
    "component_cpe",
    "component_match",
    "component_match_id",
    "cursor_state",
    "decision",
    "finding",
    "installed_unit",
    "policy",
    "policy_application",
    "product",
    "release",
    "revision_component",
    "sbom_revision",
]

product = Table(
    "product",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("slug", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("manufacturer", Text),
    Column("device_model", Text),
    Column("regulatory_class", Text),
    Column("markets_json", Text, nullable=False),
    Column("monitoring_interval_s", Integer, nullable=False),
    Column("support_end", Date),
    Column("eos_horizon_days", Integer, nullable=False),
    # Whether the current SBOM of each released version is served without a token.
    Column("sbom_public", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("monitoring_interval_s > 0", name="interval_positive"),
)
"""A device model (or a related system such as medwarden's own backend)."""

release = Table(
    "release",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("product_pk", PK, ForeignKey("product.pk"), nullable=False),
    Column("version", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("released_at", UtcDateTime),
    Column("support_end", Date),
    # The newest SBOM revision; no foreign key (the two tables point at each other).
    Column("current_revision_pk", PK),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("product_pk", "version"),
    CheckConstraint(
        "state IN ('in_development', 'released', 'fielded', 'end_of_support')",
        name="state_known",
    ),
)
"""A software version of a product, with its lifecycle state."""

sbom_revision = Table(
    "sbom_revision",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("release_pk", PK, ForeignKey("release.pk"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("format", Text, nullable=False),
    Column("spec_version", Text, nullable=False),
    Column("serial_number", Text),
    Column("document_timestamp", UtcDateTime),
    Column("media_type", Text, nullable=False),
    Column("digest", Text, nullable=False),
    Column("document", LargeBinary, nullable=False),
    Column("component_count", Integer, nullable=False),
    Column("imported_at", UtcDateTime, nullable=False),
    Column("imported_by", Text, nullable=False),
    UniqueConstraint("release_pk", "number"),
)
"""Every SBOM ever imported for a release, byte for byte; never overwritten."""

component = Table(
    "component",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("identity", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("version", Text),
    Column("group_name", Text),
    Column("purl", Text),
    Column("family", Text),
    Column("package_name", Text),
    Column("cpes_json", Text, nullable=False),
    Column("skipped_json", Text),
    Column("evaluated_at", UtcDateTime),
    Index(None, "family", "package_name"),
)
"""One row per distinct component identity across the whole portfolio.

``family``/``package_name`` is the component's (ecosystem family, canonical name)
matching key; ``skipped_json`` lists why it could not be (fully) analysed."""

component_cpe = Table(
    "component_cpe",
    METADATA,
    Column("component_pk", PK, ForeignKey("component.pk"), primary_key=True),
    Column("vendor", Text, primary_key=True),
    Column("product", Text, primary_key=True),
    Index(None, "vendor", "product"),
)
"""The CPE (vendor, product) keys of each component identity."""

revision_component = Table(
    "revision_component",
    METADATA,
    Column("revision_pk", PK, ForeignKey("sbom_revision.pk"), primary_key=True),
    Column("ref", Text, primary_key=True),
    Column("component_pk", PK, ForeignKey("component.pk"), nullable=False),
    Column("supplier", Text),
    Column("level_of_support", Text),
    Column("end_of_support", Date),
    Column("support_justification", Text),
    # Also the probe "does this revision hold this identity" of finding sync.
    Index(None, "component_pk", "revision_pk"),
)
"""Which component identities an SBOM revision holds, with per-release support data."""

component_match = Table(
    "component_match",
    METADATA,
    Column("component_pk", PK, ForeignKey("component.pk"), primary_key=True),
    Column("vulnerability_id", Text, primary_key=True),
    Column("cve_id", Text),
    Column("severity", Text, nullable=False),
    Column("severity_rank", Integer, nullable=False),
    Column("discovery_source", Text, nullable=False),
    Column("digest", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Index(None, "cve_id"),
)
"""What matching found for a component identity: one row per vulnerability (alias group).

``payload`` is the finding's evidence as compact JSON; ``digest`` changes whenever the
evidence, severity or fixed versions change."""

component_match_id = Table(
    "component_match_id",
    METADATA,
    Column("component_pk", PK, ForeignKey("component.pk"), primary_key=True),
    Column("vulnerability_id", Text, primary_key=True),
    Column("record_id", Text, primary_key=True),
    Index(None, "record_id"),
)
"""Every id (record ids and aliases) behind each cached match, to find the matches a
changed record may alter."""

finding = Table(
    "finding",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("product_pk", PK, ForeignKey("product.pk"), nullable=False),
    Column("release_pk", PK, ForeignKey("release.pk"), nullable=False),
    Column("component_pk", PK, ForeignKey("component.pk"), nullable=False),
    Column("vulnerability_id", Text, nullable=False),
    Column("cve_id", Text),
    Column("severity", Text, nullable=False),
    Column("severity_rank", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("decision_pk", PK),
    Column("discovered_at", UtcDateTime, nullable=False),
    Column("discovery_method", Text, nullable=False),
    Column("discovery_source", Text),
    Column("discovery_detail", Text),
    Column("changed_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime),
    Column("resolution", Text),
    Column("match_digest", Text),
    UniqueConstraint("release_pk", "component_pk", "vulnerability_id"),
    Index(None, "product_pk", "state", "severity_rank"),
    Index(None, "release_pk", "state"),
    Index(None, "component_pk", "vulnerability_id"),
    Index(None, "vulnerability_id"),
    Index(None, "cve_id"),
    Index(None, "changed_at"),
    Index(None, "discovered_at", "pk"),
    CheckConstraint("state IN ('open', 'resolved')", name="state_known"),
    CheckConstraint(
        "status IN ('under_investigation', 'affected', 'not_affected', 'fixed')",
        name="status_known",
    ),
)
"""One vulnerability on one component of one release: state (open while the release's
current SBOM holds a matching component), triage status, and how it was discovered."""

decision = Table(
    "decision",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("finding_pk", PK, ForeignKey("finding.pk"), nullable=False),
    Column("status", Text, nullable=False),
    Column("justification", Text),
    Column("responses_json", Text, nullable=False),
    Column("detail", Text),
    Column("impact_statement", Text),
    Column("applicability", Text),
    Column("verifiability", Text),
    Column("related_threats", Text),
    Column("assessment", Text),
    Column("approver", Text),
    Column("actor", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime),
    Column("policy_pk", PK),
    Column("reverts_pk", PK),
    Index(None, "finding_pk"),
)
"""Every triage decision ever made, newest last; ``finding.decision_pk`` is the current one."""

policy = Table(
    "policy",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("product_pk", PK, ForeignKey("product.pk")),
    Column("vulnerability_id", Text, nullable=False),
    Column("family", Text),
    Column("package_name", Text),
    Column("component_version", Text),
    Column("version_range", Text),
    Column("decision_json", Text, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("valid_from", UtcDateTime),
    Column("valid_until", UtcDateTime),
    Column("mode", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "vulnerability_id"),
    CheckConstraint("mode IN ('apply', 'log_only')", name="mode_known"),
)
"""Carry-over rules: a decision to apply to every finding of a vulnerability on a package
version (or version range), optionally within one product, with priority and validity."""

policy_application = Table(
    "policy_application",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("policy_pk", PK, ForeignKey("policy.pk"), nullable=False),
    Column("finding_pk", PK, ForeignKey("finding.pk"), nullable=False),
    Column("decision_pk", PK),
    Column("mode", Text, nullable=False),
    Column("applied_at", UtcDateTime, nullable=False),
    Column("reverted_at", UtcDateTime),
    Column("revert_decision_pk", PK),
    Index(None, "finding_pk"),
    Index(None, "policy_pk"),
)
"""Which finding a policy decided (or, in log-only mode, would have decided), and when
that was reverted because the rule stopped matching."""

installed_unit = Table(
    "installed_unit",
    METADATA,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("product_pk", PK, ForeignKey("product.pk"), nullable=False),
    Column("device_id", Text, nullable=False),
    Column("release_pk", PK, ForeignKey("release.pk"), nullable=False),
    Column("site", Text),
    Column("reported_at", UtcDateTime, nullable=False),
    Column("source", Text, nullable=False),
    UniqueConstraint("product_pk", "device_id"),
    Index(None, "release_pk"),
)
"""The installed base: which software version each fielded unit runs, and where."""

cursor_state = Table(
    "cursor_state",
    METADATA,
    Column("name", Text, primary_key=True),
    Column("value", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
"""Named progress markers, such as the last intelligence change re-evaluation processed."""
