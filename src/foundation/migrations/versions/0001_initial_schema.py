"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28 03:30:12.471255
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
    )
    op.create_table(
        "sc_samples",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("feature_slug", sa.String(length=64), nullable=False),
        sa.Column("scaffold_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_sc_samples_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sc_samples")),
        sa.UniqueConstraint(
            "tenant_id",
            "code",
            "source",
            "collected_at",
            "feature_slug",
            name=op.f("uq_sc_samples_tenant_id_code_source_collected_at_feature_slug"),
        ),
    )
    with op.batch_alter_table("sc_samples", schema=None) as batch_op:
        batch_op.create_index("ix_sc_samples_tenant_collected", ["tenant_id", "collected_at"], unique=False)

    op.create_table(
        "scaffold_registrations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("feature_slug", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("initiated_by", sa.Uuid(), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("etag", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_scaffold_registrations_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scaffold_registrations")),
        sa.UniqueConstraint(
            "tenant_id", "feature_slug", name=op.f("uq_scaffold_registrations_tenant_id_feature_slug")
        ),
    )
    with op.batch_alter_table("scaffold_registrations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scaffold_registrations_recorded_at"), ["recorded_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_scaffold_registrations_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "stories",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("scope", sa.String(length=36), nullable=False),
        sa.Column("component_id", sa.String(length=200), nullable=False),
        sa.Column("story_id", sa.String(length=200), nullable=False),
        sa.Column("coverage_percent", sa.Float(), nullable=False),
        sa.Column("axe_status", sa.String(length=8), nullable=False),
        sa.Column("chromatic_build", sa.String(length=200), nullable=False),
        sa.Column("storybook_url", sa.String(length=2048), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_stories_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
        sa.UniqueConstraint(
            "scope", "component_id", "story_id", name=op.f("uq_stories_scope_component_id_story_id")
        ),
    )
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.create_index("ix_stories_tenant_updated", ["tenant_id", "updated_at"], unique=False)

    op.create_table(
        "theme_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column(
            "categories",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "wcag_report",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("etag", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_theme_versions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_theme_versions")),
        sa.UniqueConstraint("tenant_id", "version", name=op.f("uq_theme_versions_tenant_id_version")),
    )
    with op.batch_alter_table("theme_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_theme_versions_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "uq_theme_versions_current",
            ["tenant_id"],
            unique=True,
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        )

    op.create_table(
        "idempotency_records",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("scaffold_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["scaffold_id"],
            ["scaffold_registrations.id"],
            name=op.f("fk_idempotency_records_scaffold_id_scaffold_registrations"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_idempotency_records_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "idempotency_key", name=op.f("pk_idempotency_records")),
    )
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotency_records_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "story_tags",
        sa.Column("story_pk", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["story_pk"], ["stories.id"], name=op.f("fk_story_tags_story_pk_stories"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_story_tags_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("story_pk", "tag", name=op.f("pk_story_tags")),
    )
    with op.batch_alter_table("story_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_story_tags_tag"), ["tag"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("story_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_story_tags_tag"))

    op.drop_table("story_tags")
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_records_expires_at"))

    op.drop_table("idempotency_records")
    with op.batch_alter_table("theme_versions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_theme_versions_current",
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        )
        batch_op.drop_index(batch_op.f("ix_theme_versions_tenant_id"))

    op.drop_table("theme_versions")
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.drop_index("ix_stories_tenant_updated")

    op.drop_table("stories")
    with op.batch_alter_table("scaffold_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scaffold_registrations_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_scaffold_registrations_recorded_at"))

    op.drop_table("scaffold_registrations")
    with op.batch_alter_table("sc_samples", schema=None) as batch_op:
        batch_op.drop_index("ix_sc_samples_tenant_collected")

    op.drop_table("sc_samples")
    op.drop_table("tenants")
