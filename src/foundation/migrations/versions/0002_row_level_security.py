"""Row-level security on every tenant-owned table (PostgreSQL only).

Policies read the per-transaction setting ``app.tenant_id`` (set with ``set_config(..., true)`` by
``foundation.db.Database``). ``FORCE`` makes the table owner subject to them too, so only a superuser or a
BYPASSRLS role could read across tenants — the application role is neither. Global stories
(``tenant_id IS NULL``) are visible and writable in any tenant context, and in none when no context is set.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TENANT_TABLES = ("theme_versions", "scaffold_registrations", "idempotency_records", "sc_samples")
SHARED_TABLES = ("stories", "story_tags")  # tenant rows plus global rows

CURRENT_TENANT_FUNCTION = """
CREATE OR REPLACE FUNCTION app_current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN current_setting('app.tenant_id', true) ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
    THEN current_setting('app.tenant_id', true)::uuid
  END
$$
"""
# Any non-empty context (a tenant, or "platform" for platform-wide story batches) sees global rows.
HAS_CONTEXT = "coalesce(current_setting('app.tenant_id', true), '') <> ''"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CURRENT_TENANT_FUNCTION)
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            "USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant())"
        )
    for table in SHARED_TABLES:
        rule = f"(tenant_id = app_current_tenant() OR (tenant_id IS NULL AND {HAS_CONTEXT}))"
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING {rule} WITH CHECK {rule}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES + SHARED_TABLES:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION IF EXISTS app_current_tenant()")
