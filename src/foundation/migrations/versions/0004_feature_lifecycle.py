"""Feature lifecycle (api.md §3): events of a registration, their idempotency keys, one SC-001 sample per
registration, and the representation's new fields on the registrations already stored.

- ``scaffold_registrations``: ``initiated_at`` (``recordedAt`` for the rows already there), ``event_count``
  (the version each event's conditional update checks) and an index for the newest-first list per tenant.
- ``scaffold_events`` and ``scaffold_event_keys``, with row-level security on PostgreSQL like every tenant
  table (0002); the application role's grants are applied by ``foundation db upgrade`` (migrations/roles.py).
- ``sc_samples.scaffold_id`` unique: a registration contributes at most one SC-001 sample, however many
  requests race to record it.
- Stored representations gain ``initiatedAt``, ``events`` and ``leadTimeMinutes``, and their ETags are
  recomputed (canonical JSON, as the service writes them). With FORCE row-level security the owner sees a
  table's rows only inside a tenant context, so on PostgreSQL this runs tenant by tenant. The downgrade
  drops the columns and tables and leaves the (additive) representation fields in place.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NEW_TENANT_TABLES = ("scaffold_events", "scaffold_event_keys")


def upgrade() -> None:
    with op.batch_alter_table("scaffold_registrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("initiated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("event_count", sa.Integer(), server_default="0", nullable=False))
    bind = op.get_bind()
    _upgrade_registrations(bind)
    with op.batch_alter_table("scaffold_registrations", schema=None) as batch_op:
        batch_op.alter_column("initiated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index(
            "ix_scaffold_registrations_tenant_recorded", ["tenant_id", "recorded_at"], unique=False
        )

    op.create_table(
        "scaffold_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("scaffold_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("commit_hash", sa.String(length=40), nullable=True),
        sa.Column("pipeline_url", sa.String(length=512), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["scaffold_id"],
            ["scaffold_registrations.id"],
            name=op.f("fk_scaffold_events_scaffold_id_scaffold_registrations"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_scaffold_events_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scaffold_events")),
        sa.UniqueConstraint("scaffold_id", "seq", name=op.f("uq_scaffold_events_scaffold_id_seq")),
    )
    with op.batch_alter_table("scaffold_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scaffold_events_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "scaffold_event_keys",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("scaffold_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["scaffold_events.id"], name=op.f("fk_scaffold_event_keys_event_id_scaffold_events")
        ),
        sa.ForeignKeyConstraint(
            ["scaffold_id"],
            ["scaffold_registrations.id"],
            name=op.f("fk_scaffold_event_keys_scaffold_id_scaffold_registrations"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_scaffold_event_keys_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "idempotency_key", name=op.f("pk_scaffold_event_keys")),
    )
    with op.batch_alter_table("scaffold_event_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scaffold_event_keys_expires_at"), ["expires_at"], unique=False)

    with op.batch_alter_table("sc_samples", schema=None) as batch_op:
        batch_op.create_index("uq_sc_samples_scaffold_id", ["scaffold_id"], unique=True)

    if bind.dialect.name == "postgresql":
        for table in NEW_TENANT_TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table} "
                "USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant())"
            )


def _upgrade_registrations(bind: Any) -> None:
    """``initiated_at`` and the representation's lifecycle fields for every stored registration (tenant by
    tenant on PostgreSQL: under FORCE row-level security even the owner sees no row without a context)."""
    postgres = bind.dialect.name == "postgresql"
    tenant_ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM tenants"))] if postgres else [None]
    for tenant_id in tenant_ids:
        if postgres:
            bind.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})
        bind.execute(sa.text("UPDATE scaffold_registrations SET initiated_at = recorded_at"))
        rows = bind.execute(sa.text("SELECT id, document FROM scaffold_registrations")).all()
        for scaffold_id, document in rows:
            representation = json.loads(document)
            if "events" in representation:
                continue
            representation.setdefault("initiatedAt", representation["recordedAt"])
            representation["events"] = []
            representation["leadTimeMinutes"] = None
            canonical = json.dumps(representation, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            etag = f'W/"{hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]}"'
            bind.execute(
                sa.text("UPDATE scaffold_registrations SET document = :d, etag = :e WHERE id = :i"),
                {"d": canonical, "e": etag, "i": scaffold_id},
            )
    if postgres:
        bind.execute(sa.text("SELECT set_config('app.tenant_id', '', true)"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in NEW_TENANT_TABLES:
            op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    with op.batch_alter_table("sc_samples", schema=None) as batch_op:
        batch_op.drop_index("uq_sc_samples_scaffold_id")
    with op.batch_alter_table("scaffold_event_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scaffold_event_keys_expires_at"))
    op.drop_table("scaffold_event_keys")
    with op.batch_alter_table("scaffold_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scaffold_events_tenant_id"))
    op.drop_table("scaffold_events")
    with op.batch_alter_table("scaffold_registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_scaffold_registrations_tenant_recorded")
        batch_op.drop_column("event_count")
        batch_op.drop_column("initiated_at")
