"""Scale: index-backed list and metrics queries, the SC-001 histogram kept per tenant, cross-tenant
maintenance functions (PostgreSQL).

* ``ix_sc_samples_tenant_code_collected``: tenant metrics filtered by ``code`` page in ``collected_at`` order
  from the index (before, SQLite read the tenant's samples of that code through the unique key and sorted
  them all for every page).
* ``ix_sc_samples_registered_recent``: the most recent registrations across all tenants (the per-feature
  SC-001 series of ``/metrics``) are the first N entries of this partial index.
* ``sc001_histograms``: one row per tenant with the cumulative SC-001 bucket counts of its registrations,
  maintained by triggers on ``sc_samples`` (insert and delete) and backfilled here. A scrape reads one row
  per tenant instead of counting samples, so its cost no longer grows with the registrations.
* PostgreSQL: every tenant-owned table forces row-level security, so a cross-tenant aggregate is out of the
  application role's reach. Three ``SECURITY DEFINER`` functions owned by the schema owner are the only
  cross-tenant operations it may run: the per-tenant histograms, the most recent registrations and the purge
  of expired idempotency records. They set ``app.platform_scope`` while they run, and a policy that applies
  to the owner only (``platform_maintenance``) admits that scope; the application role can set the variable
  too, but no policy of its own looks at it.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The SC-001 buckets of observability.md (minutes). A migration is frozen history, so they are written here;
# tests/observability/test_sc001_histograms.py checks they equal foundation.observability.metrics.SC001_BUCKETS.
BOUNDS = (1, 2, 3, 5, 8, 13, 21, 30, 45, 60, 90, 120, 240, 480, 720, 1440)
BUCKET_COLUMNS = tuple(f"le_{bound}" for bound in BOUNDS)
REGISTERED = "code = 'SC-001' AND scaffold_id IS NOT NULL"
SCOPE_SETTING = "app.platform_scope"
SCOPE_VALUE = "maintenance"
IN_SCOPE = f"current_setting('{SCOPE_SETTING}', true) = '{SCOPE_VALUE}'"
ENTER_SCOPE = f"PERFORM set_config('{SCOPE_SETTING}', '{SCOPE_VALUE}', true);"
LEAVE_SCOPE = f"PERFORM set_config('{SCOPE_SETTING}', '', true);"


def upgrade() -> None:
    op.create_index(
        "ix_sc_samples_tenant_code_collected", "sc_samples", ["tenant_id", "code", "collected_at"]
    )
    op.create_index(
        "ix_sc_samples_registered_recent",
        "sc_samples",
        ["code", "collected_at", "created_at"],
        sqlite_where=sa.text("scaffold_id IS NOT NULL"),
        postgresql_where=sa.text("scaffold_id IS NOT NULL"),
    )
    op.create_table(
        "sc001_histograms",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("observations", sa.BigInteger(), nullable=False),
        sa.Column("total_minutes", sa.Float(), nullable=False),
        *(sa.Column(column, sa.BigInteger(), nullable=False) for column in BUCKET_COLUMNS),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sc001_histograms_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_sc001_histograms")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_upgrade()
    else:
        _sqlite_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in (
            "DROP FUNCTION IF EXISTS foundation_purge_idempotency(timestamptz, integer)",
            "DROP FUNCTION IF EXISTS foundation_sc001_recent(integer)",
            "DROP FUNCTION IF EXISTS foundation_sc001_histograms(integer)",
            "DROP TRIGGER IF EXISTS sc_samples_sc001_insert ON sc_samples",
            "DROP TRIGGER IF EXISTS sc_samples_sc001_delete ON sc_samples",
            "DROP FUNCTION IF EXISTS sc001_histograms_track()",
            "DROP POLICY IF EXISTS platform_maintenance ON sc_samples",
            "DROP POLICY IF EXISTS platform_maintenance ON idempotency_records",
        ):
            op.execute(statement)
    else:
        op.execute("DROP TRIGGER IF EXISTS sc_samples_sc001_insert")
        op.execute("DROP TRIGGER IF EXISTS sc_samples_sc001_delete")
    op.drop_table("sc001_histograms")
    op.drop_index("ix_sc_samples_registered_recent", table_name="sc_samples")
    op.drop_index("ix_sc_samples_tenant_code_collected", table_name="sc_samples")


def _counts(row: str, sign: str, cast: str) -> list[str]:
    """``le_B = le_B <sign> (<row>.value <= B)`` for every bucket; ``cast`` turns the boolean into 0/1."""
    return [
        f"{column} = {column} {sign} {cast.format(f'{row}.value <= {bound}')}"
        for column, bound in zip(BUCKET_COLUMNS, BOUNDS, strict=True)
    ]


def _band(column: str, low: int = 0, high: int = 41) -> str:
    """SQL for ``int.bit_length()`` of ``column`` (0 … 41) by binary search: six comparisons a row."""
    if low == high:
        return str(low)
    middle = (low + high + 1) // 2
    return (
        f"CASE WHEN {column} >= {1 << (middle - 1)} THEN {_band(column, middle, high)} "
        f"ELSE {_band(column, low, middle - 1)} END"
    )


def _backfill() -> str:
    buckets = ", ".join(f"SUM(CASE WHEN value <= {bound} THEN 1 ELSE 0 END)" for bound in BOUNDS)
    return (
        f"INSERT INTO sc001_histograms (tenant_id, observations, total_minutes, {', '.join(BUCKET_COLUMNS)}) "
        f"SELECT tenant_id, COUNT(*), SUM(value), {buckets} FROM sc_samples WHERE {REGISTERED} "
        "GROUP BY tenant_id"
    )


def _sqlite_upgrade() -> None:
    columns = ", ".join(BUCKET_COLUMNS)
    flags = ", ".join(f"NEW.value <= {bound}" for bound in BOUNDS)
    added = ", ".join(f"{column} = {column} + excluded.{column}" for column in BUCKET_COLUMNS)
    op.execute(
        "CREATE TRIGGER sc_samples_sc001_insert AFTER INSERT ON sc_samples "
        f"WHEN NEW.code = 'SC-001' AND NEW.scaffold_id IS NOT NULL BEGIN "
        f"INSERT INTO sc001_histograms (tenant_id, observations, total_minutes, {columns}) "
        f"VALUES (NEW.tenant_id, 1, NEW.value, {flags}) "
        "ON CONFLICT (tenant_id) DO UPDATE SET observations = observations + 1, "
        f"total_minutes = total_minutes + excluded.total_minutes, {added}; END"
    )
    op.execute(
        "CREATE TRIGGER sc_samples_sc001_delete AFTER DELETE ON sc_samples "
        "WHEN OLD.code = 'SC-001' AND OLD.scaffold_id IS NOT NULL BEGIN "
        "UPDATE sc001_histograms SET observations = observations - 1, "
        f"total_minutes = total_minutes - OLD.value, {', '.join(_counts('OLD', '-', '({})'))} "
        "WHERE tenant_id = OLD.tenant_id; END"
    )
    op.execute(_backfill())


def _postgresql_upgrade() -> None:
    _pg_triggers()
    _pg_policies()
    op.execute(f"SELECT set_config('{SCOPE_SETTING}', '{SCOPE_VALUE}', true)")
    op.execute(_backfill())
    op.execute(f"SELECT set_config('{SCOPE_SETTING}', '', true)")
    _pg_functions(op.get_bind().exec_driver_sql("SELECT current_schema()").scalar_one())
    for signature in (
        "foundation_sc001_histograms(integer)",
        "foundation_sc001_recent(integer)",
        "foundation_purge_idempotency(timestamptz, integer)",
    ):
        # Granted to the application role by `foundation db upgrade` (migrations/roles.py), to nobody else.
        op.execute(f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC")


def _pg_triggers() -> None:
    columns = ", ".join(BUCKET_COLUMNS)
    flags = ", ".join(f"(NEW.value <= {bound})::int" for bound in BOUNDS)
    added = ", ".join(f"{column} = h.{column} + EXCLUDED.{column}" for column in BUCKET_COLUMNS)
    # Runs as the writer (the application role, in the sample's tenant context): row-level security applies.
    op.execute(f"""
        CREATE FUNCTION sc001_histograms_track() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'INSERT' THEN
            INSERT INTO sc001_histograms AS h (tenant_id, observations, total_minutes, {columns})
            VALUES (NEW.tenant_id, 1, NEW.value, {flags})
            ON CONFLICT (tenant_id) DO UPDATE SET observations = h.observations + 1,
              total_minutes = h.total_minutes + EXCLUDED.total_minutes, {added};
          ELSE
            UPDATE sc001_histograms SET observations = observations - 1,
              total_minutes = total_minutes - OLD.value, {", ".join(_counts("OLD", "-", "({})::int"))}
            WHERE tenant_id = OLD.tenant_id;
          END IF;
          RETURN NULL;
        END $$
    """)
    op.execute(
        "CREATE TRIGGER sc_samples_sc001_insert AFTER INSERT ON sc_samples FOR EACH ROW "
        "WHEN (NEW.code = 'SC-001' AND NEW.scaffold_id IS NOT NULL) EXECUTE FUNCTION sc001_histograms_track()"
    )
    op.execute(
        "CREATE TRIGGER sc_samples_sc001_delete AFTER DELETE ON sc_samples FOR EACH ROW "
        "WHEN (OLD.code = 'SC-001' AND OLD.scaffold_id IS NOT NULL) EXECUTE FUNCTION sc001_histograms_track()"
    )


def _pg_policies() -> None:
    op.execute("ALTER TABLE sc001_histograms ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE sc001_histograms FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON sc001_histograms "
        "USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant())"
    )
    # The owner's maintenance scope: the functions below, and this migration's backfill.
    for table, command in (
        ("sc001_histograms", "ALL"),
        ("sc_samples", "SELECT"),
        ("idempotency_records", "ALL"),
    ):
        check = f" WITH CHECK ({IN_SCOPE})" if command == "ALL" else ""
        op.execute(
            f"CREATE POLICY platform_maintenance ON {table} FOR {command} TO CURRENT_USER "
            f"USING ({IN_SCOPE}){check}"
        )


def _pg_functions(schema: str) -> None:
    # The scope is set in the body: a SET clause for a custom variable needs a superuser to create.
    definer = f"LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp"
    # Plans: the planner cannot know that the maintenance scope admits every row — it estimates the
    # row-level security filter at 0.5 % — and, trusting that, would read the whole table and sort it
    # (recent registrations, purge) or join every tenant row against every histogram row (a nested loop).
    # Each function turns off the plans that only look cheap under that estimate (docs/performance-plans.md
    # shows the plans as executed, through auto_explain).
    whole_tables = "SET enable_nestloop = off"
    index_prefix = "SET enable_seqscan = off SET enable_bitmapscan = off"
    bucket_types = ", ".join(f"{column} bigint" for column in BUCKET_COLUMNS)
    # Folded in the database (at most max_tenants + 1 rows out): the tenants with the most registrations by
    # power of two (the bit length, by binary search), then by slug in code-point order, keep their row; the
    # others are summed into '__other__' (docs/observability.md, "Bounded").
    columns = ", ".join(f"h.{c}" for c in BUCKET_COLUMNS)
    summed = ", ".join(f"sum(h.{c})::bigint" for c in BUCKET_COLUMNS)
    op.execute(f"""
        CREATE FUNCTION foundation_sc001_histograms(max_tenants integer)
        RETURNS TABLE (tenant_slug text, observations bigint, total_minutes double precision, {bucket_types})
        {definer} {whole_tables} AS $$
        #variable_conflict use_column
        BEGIN
          {ENTER_SCOPE}
          RETURN QUERY
            WITH kept AS (
              SELECT h.tenant_id AS id_ FROM sc001_histograms h JOIN tenants t ON t.id = h.tenant_id
              WHERE h.observations > 0
              ORDER BY {_band("h.observations")} DESC, t.slug COLLATE "C" LIMIT max_tenants
            )
            SELECT t.slug::text, h.observations, h.total_minutes, {columns}
            FROM sc001_histograms h JOIN tenants t ON t.id = h.tenant_id
            WHERE h.tenant_id IN (SELECT id_ FROM kept)
            UNION ALL
            SELECT '__other__', sum(h.observations)::bigint, sum(h.total_minutes), {summed}
            FROM sc001_histograms h
            WHERE h.observations > 0 AND h.tenant_id NOT IN (SELECT id_ FROM kept)
            HAVING count(*) > 0;
          {LEAVE_SCOPE}
        END $$
    """)
    op.execute(f"""
        CREATE FUNCTION foundation_sc001_recent(max_rows integer)
        RETURNS TABLE (tenant_slug text, feature_slug text, value double precision)
        {definer} {index_prefix} AS $$
        #variable_conflict use_column
        BEGIN
          {ENTER_SCOPE}
          RETURN QUERY
            SELECT t.slug::text, s.feature_slug::text, s.value
            FROM sc_samples s JOIN tenants t ON t.id = s.tenant_id
            WHERE s.code = 'SC-001' AND s.scaffold_id IS NOT NULL
            ORDER BY s.collected_at DESC, s.created_at DESC
            LIMIT max_rows;
          {LEAVE_SCOPE}
        END $$
    """)
    # Rows a writer holds (a registration replacing its own expired key) are skipped, never waited for.
    op.execute(f"""
        CREATE FUNCTION foundation_purge_idempotency(cutoff timestamptz, max_rows integer)
        RETURNS integer {definer} {index_prefix} AS $$
        DECLARE purged integer;
        BEGIN
          {ENTER_SCOPE}
          WITH doomed AS (
            SELECT r.tenant_id, r.idempotency_key FROM idempotency_records r
            WHERE r.expires_at <= cutoff ORDER BY r.expires_at LIMIT max_rows
            FOR UPDATE SKIP LOCKED
          ), gone AS (
            DELETE FROM idempotency_records r USING doomed d
            WHERE r.tenant_id = d.tenant_id AND r.idempotency_key = d.idempotency_key
            RETURNING 1
          )
          SELECT count(*)::integer INTO purged FROM gone;
          {LEAVE_SCOPE}
          RETURN purged;
        END $$
    """)
