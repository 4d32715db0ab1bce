"""Three indexes fewer on every registration, none of which any query uses.

A registration with a duration inserted into six B-trees of ``scaffold_registrations`` and eight of
``sc_samples``. With thousands of tenants, every tenant-led index costs a leaf page per tenant of a batch,
and each index costs its insert (docs/benchmarks.md, "New registrations"). docs/performance-plans.md lists
every endpoint's plan; these three appear in none:

* ``ix_scaffold_registrations_tenant_id``: a prefix of the unique key ``(tenant_id, feature_slug)`` and of
  ``ix_scaffold_registrations_tenant_recorded``, which serve every lookup by tenant;
* ``ix_scaffold_registrations_recorded_at``: the list pages within one tenant in ``(tenant_id, recorded_at)``
  order, and the recent registrations across tenants are read from ``ix_sc_samples_registered_recent``;
* ``ix_sc_samples_registered_values`` (0003): it covered the SC-001 histogram's range counts, which
  ``sc001_histograms`` (0006) has kept per tenant since.

Only indexes go, so the release before this one runs on the schema unchanged (its queries used none of them).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

EXPAND_ONLY = True


def upgrade() -> None:
    op.drop_index("ix_scaffold_registrations_tenant_id", table_name="scaffold_registrations")
    op.drop_index("ix_scaffold_registrations_recorded_at", table_name="scaffold_registrations")
    op.drop_index("ix_sc_samples_registered_values", table_name="sc_samples")


def downgrade() -> None:
    op.create_index(
        "ix_sc_samples_registered_values",
        "sc_samples",
        ["tenant_id", "code", "value"],
        sqlite_where=sa.text("scaffold_id IS NOT NULL"),
        postgresql_where=sa.text("scaffold_id IS NOT NULL"),
    )
    op.create_index("ix_scaffold_registrations_recorded_at", "scaffold_registrations", ["recorded_at"])
    op.create_index("ix_scaffold_registrations_tenant_id", "scaffold_registrations", ["tenant_id"])
