"""Registration batches of several tenants in one statement per table (PostgreSQL only).

Row-level security sees one tenant per transaction context (``app.tenant_id``, 0002), so a batch of
registrations of 32 random tenants ran six statements per tenant: the context switch, the read of keys and
slugs, and the inserts. A worker spent ~2 ms of CPU per registration, most of it around those statements
(docs/benchmarks.md, "New registrations on PostgreSQL").

Here a second permissive policy, ``batch_tenants``, admits the rows of the tenants listed in the
per-transaction setting ``app.tenant_ids`` (comma-separated UUIDs, set with ``set_config(..., true)`` by
``foundation.db.Database.switch_tenants``). Permissive policies are OR'ed, so a transaction still sees only the
tenants its context names: one tenant as before, or the tenants of its batch. A value that is not such a
list names no tenant. The tables are the four a registration writes: ``scaffold_registrations``,
``idempotency_records``, ``sc_samples``, and ``sc001_histograms`` (through the trigger on ``sc_samples``).

Only a function and policies are added, so the release before this one runs on the schema unchanged.

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

TABLES = ("scaffold_registrations", "idempotency_records", "sc_samples", "sc001_histograms")
UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

BATCH_TENANTS_FUNCTION = f"""
CREATE OR REPLACE FUNCTION app_batch_tenants() RETURNS uuid[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN current_setting('app.tenant_ids', true) ~ '^{UUID}(,{UUID})*$'
    THEN string_to_array(current_setting('app.tenant_ids', true), ',')::uuid[]
    ELSE '{{}}'::uuid[]
  END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(BATCH_TENANTS_FUNCTION)
    for table in TABLES:
        op.execute(
            f"CREATE POLICY batch_tenants ON {table} "
            "USING (tenant_id = ANY (app_batch_tenants())) WITH CHECK (tenant_id = ANY (app_batch_tenants()))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP POLICY IF EXISTS batch_tenants ON {table}")
    op.execute("DROP FUNCTION IF EXISTS app_batch_tenants()")
