"""The change feed of the read cache on SQLite (``foundation.read_changes``).

Adds the ``read_changes`` table: each write that changes a cached answer appends a row, and every serving
process polls it. PostgreSQL carries the same changes as notifications and leaves the table empty. Only a new
table: the release before it runs on this schema unchanged (it neither writes nor reads the table).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

EXPAND_ONLY = True


def upgrade() -> None:
    op.create_table(
        "read_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_read_changes")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_read_changes_changed_at", "read_changes", ["changed_at"])


def downgrade() -> None:
    op.drop_index("ix_read_changes_changed_at", table_name="read_changes")
    op.drop_table("read_changes")
