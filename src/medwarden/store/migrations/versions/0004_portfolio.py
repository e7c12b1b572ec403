"""Portfolio: products, releases, SBOM revisions, component identities, findings, triage.

Also ``change_seq`` on advisories and KEV entries: the write batch that last changed a
row, which re-evaluation reads past.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 17:00:38.117985
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the portfolio tables; add ``change_seq`` to ``advisory`` and ``kev``."""
    op.create_table(
        "component",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("identity", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=True),
        sa.Column("group_name", sa.Text(), nullable=True),
        sa.Column("purl", sa.Text(), nullable=True),
        sa.Column("family", sa.Text(), nullable=True),
        sa.Column("package_name", sa.Text(), nullable=True),
        sa.Column("cpes_json", sa.Text(), nullable=False),
        sa.Column("skipped_json", sa.Text(), nullable=True),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_component")),
        sa.UniqueConstraint("identity", name=op.f("uq_component_identity")),
    )
    with op.batch_alter_table("component", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_component_family_package_name"), ["family", "package_name"], unique=False
        )

    op.create_table(
        "cursor_state",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cursor_state")),
    )
    op.create_table(
        "product",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("manufacturer", sa.Text(), nullable=True),
        sa.Column("device_model", sa.Text(), nullable=True),
        sa.Column("regulatory_class", sa.Text(), nullable=True),
        sa.Column("markets_json", sa.Text(), nullable=False),
        sa.Column("monitoring_interval_s", sa.Integer(), nullable=False),
        sa.Column("support_end", sa.Date(), nullable=True),
        sa.Column("eos_horizon_days", sa.Integer(), nullable=False),
        sa.Column("sbom_public", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("monitoring_interval_s > 0", name=op.f("ck_product_interval_positive")),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_product")),
        sa.UniqueConstraint("slug", name=op.f("uq_product_slug")),
    )
    op.create_table(
        "component_cpe",
        sa.Column(
            "component_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("vendor", sa.Text(), nullable=False),
        sa.Column("product", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["component_pk"], ["component.pk"], name=op.f("fk_component_cpe_component_pk_component")
        ),
        sa.PrimaryKeyConstraint("component_pk", "vendor", "product", name=op.f("pk_component_cpe")),
    )
    with op.batch_alter_table("component_cpe", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_component_cpe_vendor_product"), ["vendor", "product"], unique=False
        )

    op.create_table(
        "component_match",
        sa.Column(
            "component_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("vulnerability_id", sa.Text(), nullable=False),
        sa.Column("cve_id", sa.Text(), nullable=True),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("severity_rank", sa.Integer(), nullable=False),
        sa.Column("discovery_source", sa.Text(), nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["component_pk"],
            ["component.pk"],
            name=op.f("fk_component_match_component_pk_component"),
        ),
        sa.PrimaryKeyConstraint(
            "component_pk", "vulnerability_id", name=op.f("pk_component_match")
        ),
    )
    with op.batch_alter_table("component_match", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_component_match_cve_id"), ["cve_id"], unique=False)

    op.create_table(
        "component_match_id",
        sa.Column(
            "component_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("vulnerability_id", sa.Text(), nullable=False),
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["component_pk"],
            ["component.pk"],
            name=op.f("fk_component_match_id_component_pk_component"),
        ),
        sa.PrimaryKeyConstraint(
            "component_pk", "vulnerability_id", "record_id", name=op.f("pk_component_match_id")
        ),
    )
    with op.batch_alter_table("component_match_id", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_component_match_id_record_id"), ["record_id"], unique=False
        )

    op.create_table(
        "policy",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "product_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("vulnerability_id", sa.Text(), nullable=False),
        sa.Column("family", sa.Text(), nullable=True),
        sa.Column("package_name", sa.Text(), nullable=True),
        sa.Column("component_version", sa.Text(), nullable=True),
        sa.Column("version_range", sa.Text(), nullable=True),
        sa.Column("decision_json", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mode IN ('apply', 'log_only')", name=op.f("ck_policy_mode_known")),
        sa.ForeignKeyConstraint(
            ["product_pk"], ["product.pk"], name=op.f("fk_policy_product_pk_product")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_policy")),
    )
    with op.batch_alter_table("policy", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_policy_vulnerability_id"), ["vulnerability_id"], unique=False
        )

    op.create_table(
        "release",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "product_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("support_end", sa.Date(), nullable=True),
        sa.Column(
            "current_revision_pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('in_development', 'released', 'fielded', 'end_of_support')",
            name=op.f("ck_release_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["product_pk"], ["product.pk"], name=op.f("fk_release_product_pk_product")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_release")),
        sa.UniqueConstraint("product_pk", "version", name=op.f("uq_release_product_pk_version")),
    )
    op.create_table(
        "finding",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "product_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "release_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "component_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("vulnerability_id", sa.Text(), nullable=False),
        sa.Column("cve_id", sa.Text(), nullable=True),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("severity_rank", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "decision_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("discovered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("discovery_method", sa.Text(), nullable=False),
        sa.Column("discovery_source", sa.Text(), nullable=True),
        sa.Column("discovery_detail", sa.Text(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("match_digest", sa.Text(), nullable=True),
        sa.CheckConstraint("state IN ('open', 'resolved')", name=op.f("ck_finding_state_known")),
        sa.CheckConstraint(
            "status IN ('under_investigation', 'affected', 'not_affected', 'fixed')",
            name=op.f("ck_finding_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["component_pk"], ["component.pk"], name=op.f("fk_finding_component_pk_component")
        ),
        sa.ForeignKeyConstraint(
            ["product_pk"], ["product.pk"], name=op.f("fk_finding_product_pk_product")
        ),
        sa.ForeignKeyConstraint(
            ["release_pk"], ["release.pk"], name=op.f("fk_finding_release_pk_release")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_finding")),
        sa.UniqueConstraint(
            "release_pk",
            "component_pk",
            "vulnerability_id",
            name=op.f("uq_finding_release_pk_component_pk_vulnerability_id"),
        ),
    )
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_finding_changed_at"), ["changed_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_finding_component_pk_vulnerability_id"),
            ["component_pk", "vulnerability_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_finding_cve_id"), ["cve_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_finding_product_pk_state_severity_rank"),
            ["product_pk", "state", "severity_rank"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_finding_release_pk_state"), ["release_pk", "state"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_finding_vulnerability_id"), ["vulnerability_id"], unique=False
        )

    op.create_table(
        "installed_unit",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "product_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("device_id", sa.Text(), nullable=False),
        sa.Column(
            "release_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("site", sa.Text(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_pk"], ["product.pk"], name=op.f("fk_installed_unit_product_pk_product")
        ),
        sa.ForeignKeyConstraint(
            ["release_pk"], ["release.pk"], name=op.f("fk_installed_unit_release_pk_release")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_installed_unit")),
        sa.UniqueConstraint(
            "product_pk", "device_id", name=op.f("uq_installed_unit_product_pk_device_id")
        ),
    )
    with op.batch_alter_table("installed_unit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_installed_unit_release_pk"), ["release_pk"], unique=False
        )

    op.create_table(
        "sbom_revision",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "release_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("spec_version", sa.Text(), nullable=False),
        sa.Column("serial_number", sa.Text(), nullable=True),
        sa.Column("document_timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("media_type", sa.Text(), nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("component_count", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_pk"], ["release.pk"], name=op.f("fk_sbom_revision_release_pk_release")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_sbom_revision")),
        sa.UniqueConstraint(
            "release_pk", "number", name=op.f("uq_sbom_revision_release_pk_number")
        ),
    )
    op.create_table(
        "decision",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "finding_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("responses_json", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("impact_statement", sa.Text(), nullable=True),
        sa.Column("applicability", sa.Text(), nullable=True),
        sa.Column("verifiability", sa.Text(), nullable=True),
        sa.Column("related_threats", sa.Text(), nullable=True),
        sa.Column("assessment", sa.Text(), nullable=True),
        sa.Column("approver", sa.Text(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("policy_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "reverts_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["finding_pk"], ["finding.pk"], name=op.f("fk_decision_finding_pk_finding")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_decision")),
    )
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decision_finding_pk"), ["finding_pk"], unique=False)

    op.create_table(
        "policy_application",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "policy_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "finding_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "decision_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reverted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "revert_decision_pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["finding_pk"], ["finding.pk"], name=op.f("fk_policy_application_finding_pk_finding")
        ),
        sa.ForeignKeyConstraint(
            ["policy_pk"], ["policy.pk"], name=op.f("fk_policy_application_policy_pk_policy")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_policy_application")),
    )
    with op.batch_alter_table("policy_application", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_policy_application_finding_pk"), ["finding_pk"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_policy_application_policy_pk"), ["policy_pk"], unique=False
        )

    op.create_table(
        "revision_component",
        sa.Column(
            "revision_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column(
            "component_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("supplier", sa.Text(), nullable=True),
        sa.Column("level_of_support", sa.Text(), nullable=True),
        sa.Column("end_of_support", sa.Date(), nullable=True),
        sa.Column("support_justification", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["component_pk"],
            ["component.pk"],
            name=op.f("fk_revision_component_component_pk_component"),
        ),
        sa.ForeignKeyConstraint(
            ["revision_pk"],
            ["sbom_revision.pk"],
            name=op.f("fk_revision_component_revision_pk_sbom_revision"),
        ),
        sa.PrimaryKeyConstraint("revision_pk", "ref", name=op.f("pk_revision_component")),
    )
    with op.batch_alter_table("revision_component", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_revision_component_component_pk"), ["component_pk"], unique=False
        )

    with op.batch_alter_table("advisory", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change_seq", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_advisory_change_seq"), ["change_seq"], unique=False)

    with op.batch_alter_table("kev", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change_seq", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("kev", schema=None) as batch_op:
        batch_op.drop_column("change_seq")

    with op.batch_alter_table("advisory", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_advisory_change_seq"))
        batch_op.drop_column("change_seq")

    with op.batch_alter_table("revision_component", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_revision_component_component_pk"))

    op.drop_table("revision_component")
    with op.batch_alter_table("policy_application", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_application_policy_pk"))
        batch_op.drop_index(batch_op.f("ix_policy_application_finding_pk"))

    op.drop_table("policy_application")
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decision_finding_pk"))

    op.drop_table("decision")
    op.drop_table("sbom_revision")
    with op.batch_alter_table("installed_unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_installed_unit_release_pk"))

    op.drop_table("installed_unit")
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finding_vulnerability_id"))
        batch_op.drop_index(batch_op.f("ix_finding_release_pk_state"))
        batch_op.drop_index(batch_op.f("ix_finding_product_pk_state_severity_rank"))
        batch_op.drop_index(batch_op.f("ix_finding_cve_id"))
        batch_op.drop_index(batch_op.f("ix_finding_component_pk_vulnerability_id"))
        batch_op.drop_index(batch_op.f("ix_finding_changed_at"))

    op.drop_table("finding")
    op.drop_table("release")
    with op.batch_alter_table("policy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_vulnerability_id"))

    op.drop_table("policy")
    with op.batch_alter_table("component_match_id", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_component_match_id_record_id"))

    op.drop_table("component_match_id")
    with op.batch_alter_table("component_match", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_component_match_cve_id"))

    op.drop_table("component_match")
    with op.batch_alter_table("component_cpe", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_component_cpe_vendor_product"))

    op.drop_table("component_cpe")
    op.drop_table("product")
    op.drop_table("cursor_state")
    with op.batch_alter_table("component", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_component_family_package_name"))

    op.drop_table("component")
