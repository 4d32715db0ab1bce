"""The scorecard of every tenant for ``/metrics`` (PostgreSQL): two cross-tenant ``SECURITY DEFINER`` reads.

* ``foundation_sc_statistics(window_start, quarter_start, window_end)``: per tenant and criterion, the count,
  mean, sum, latest value and nearest-rank p95 of the samples in the window (SC-005: from the quarter start)
  — the statement of ``success_metrics/scorecard_board.py``, frozen here as migrations are;
  tests/postgres/test_scorecard_metrics.py compares the result with ``GET …/sc/summary`` tenant by tenant;
* ``foundation_sc_tenant_targets()``: the tenants' own targets.

Both run in the maintenance scope of migration 0006 (a policy that admits the owner only while the
function runs); ``sc_targets`` gets that policy for reads here. Nothing is written.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SCOPE_SETTING = "app.platform_scope"
SCOPE_VALUE = "maintenance"
IN_SCOPE = f"current_setting('{SCOPE_SETTING}', true) = '{SCOPE_VALUE}'"
ENTER_SCOPE = f"PERFORM set_config('{SCOPE_SETTING}', '{SCOPE_VALUE}', true);"
LEAVE_SCOPE = f"PERFORM set_config('{SCOPE_SETTING}', '', true);"
SIGNATURES = (
    "foundation_sc_statistics(timestamptz, timestamptz, timestamptz)",
    "foundation_sc_tenant_targets()",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar_one()
    definer = f"LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp"
    op.execute(
        f"CREATE POLICY platform_maintenance ON sc_targets FOR SELECT TO CURRENT_USER USING ({IN_SCOPE})"
    )
    op.execute(f"""
        CREATE FUNCTION foundation_sc_statistics(
          window_start timestamptz, quarter_start timestamptz, window_end timestamptz)
        RETURNS TABLE (tenant_slug text, code text, samples bigint, mean double precision,
          total double precision, latest double precision, p95 double precision)
        {definer} AS $$
        #variable_conflict use_column
        BEGIN
          {ENTER_SCOPE}
          RETURN QUERY
            WITH s AS (
              SELECT x.tenant_id, x.code, x.value, x.collected_at, x.created_at, x.id FROM sc_samples x
              WHERE x.code IN ('SC-001', 'SC-002', 'SC-003', 'SC-004', 'SC-005')
                AND x.collected_at <= window_end
                AND x.collected_at >= CASE WHEN x.code = 'SC-005' THEN quarter_start ELSE window_start END
            ), ranked AS (
              SELECT s.tenant_id, s.code, s.value,
                row_number() OVER (PARTITION BY s.tenant_id, s.code
                  ORDER BY s.collected_at DESC, s.created_at DESC, s.id DESC) AS newest,
                row_number() OVER (PARTITION BY s.tenant_id, s.code ORDER BY s.value) AS by_value,
                count(*) OVER (PARTITION BY s.tenant_id, s.code) AS n
              FROM s
            )
            SELECT t.slug::text, r.code::text, count(*)::bigint, avg(r.value)::double precision,
              sum(r.value)::double precision,
              max(CASE WHEN r.newest = 1 THEN r.value END),
              max(CASE WHEN r.by_value = (95 * r.n + 99) / 100 THEN r.value END)
            FROM ranked r JOIN tenants t ON t.id = r.tenant_id
            GROUP BY t.slug, r.code;
          {LEAVE_SCOPE}
        END $$
    """)
    op.execute(f"""
        CREATE FUNCTION foundation_sc_tenant_targets()
        RETURNS TABLE (tenant_slug text, code text, value double precision)
        {definer} AS $$
        #variable_conflict use_column
        BEGIN
          {ENTER_SCOPE}
          RETURN QUERY
            SELECT t.slug::text, g.code::text, g.value FROM sc_targets g JOIN tenants t ON t.id = g.tenant_id;
          {LEAVE_SCOPE}
        END $$
    """)
    for signature in SIGNATURES:
        # Granted to the application role by `foundation db upgrade` (migrations/roles.py), to nobody else.
        op.execute(f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for signature in SIGNATURES:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.execute("DROP POLICY IF EXISTS platform_maintenance ON sc_targets")
