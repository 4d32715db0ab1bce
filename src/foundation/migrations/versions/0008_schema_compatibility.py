"""Record which releases may serve the schema (``foundation.schema_compatibility``).

Adds the one-row ``schema_compatibility`` table; env.py fills it after every upgrade. Only a new table:
the release before it runs on this schema unchanged.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

EXPAND_ONLY = True


def upgrade() -> None:
    op.create_table(
        "schema_compatibility",
        sa.Column("revision", sa.String(32), primary_key=True),
        sa.Column("oldest_compatible_revision", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schema_compatibility")
