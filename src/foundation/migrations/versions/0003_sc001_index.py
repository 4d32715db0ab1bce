"""Covering index for the SC-001 histogram of registrations (range counts per tenant).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_sc_samples_registered_values",
        "sc_samples",
        ["tenant_id", "code", "value"],
        sqlite_where=sa.text("scaffold_id IS NOT NULL"),
        postgresql_where=sa.text("scaffold_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_sc_samples_registered_values", table_name="sc_samples")
