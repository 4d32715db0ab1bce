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

# The tables a registration writes (sc001_histograms through the trigger on sc_samples).
BATCH_TABLES = ("scaffold_registrations", "idempotency_records", "sc_samples", "sc001_histograms")
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
    for table in BATCH_TABLES:  # created by `db upgrade` (roles.py) and depending on the function
        op.execute(f"DROP POLICY IF EXISTS batch_tenants ON {table}")
    op.execute("DROP FUNCTION IF EXISTS app_batch_tenants()")
