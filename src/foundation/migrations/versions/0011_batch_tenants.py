"""The tenants of a registration batch, for the batch role's policies (PostgreSQL only).

Row-level security sees one tenant per transaction context (``app.tenant_id``, 0002), so a batch of
registrations of 32 random tenants ran six statements per tenant: the context switch, the read of keys and
slugs, and the inserts — ~2 ms of a worker's CPU per registration (docs/benchmarks.md, "New registrations on
PostgreSQL").

``app_batch_tenants()`` reads the per-transaction setting ``app.tenant_ids`` (comma-separated UUIDs, set by
``foundation.db.Database.open_batch``); a value that is not such a list names no tenant. The policies that
use it, ``batch_tenants``, are created by `foundation db upgrade` together with the role they apply to,
``<application role>_batch`` (foundation.migrations.roles): a policy ``TO`` that role only is never part of
the application role's own queries, so its reads keep their plans. A second permissive policy for every
role would be OR'ed into every read (measured: the tenant metrics page became a bitmap scan of all of a
tenant's samples plus a sort).

Only a function is added, so the release before this one runs on the schema unchanged.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None
EXPAND_ONLY = True

_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

BATCH_TENANTS_FUNCTION = f"""
CREATE OR REPLACE FUNCTION app_batch_tenants() RETURNS uuid[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN current_setting('app.tenant_ids', true) ~ '^{_UUID}(,{_UUID})*$'
    THEN string_to_array(current_setting('app.tenant_ids', true), ',')::uuid[]
    ELSE '{{}}'::uuid[]
  END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(BATCH_TENANTS_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # The policies depend on the function; `db upgrade` made them (roles.py, its list of tables): drop
    # every one of this schema, wherever it is.
    op.execute("""
        DO $$ DECLARE p record; BEGIN
          FOR p IN SELECT tablename FROM pg_policies
                   WHERE policyname = 'batch_tenants' AND schemaname = current_schema() LOOP
            EXECUTE format('DROP POLICY batch_tenants ON %I', p.tablename);
          END LOOP;
        END $$
    """)
    op.execute("DROP FUNCTION IF EXISTS app_batch_tenants()")
