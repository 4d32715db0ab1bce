from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, PrimaryKeyConstraint, String, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from foundation.db import Base, UTCDateTime, utcnow


class ScSample(Base):
    """One success-metric sample (SC-001…SC-005) of a tenant.

    ``feature_slug`` is stored as ``""`` when absent so the de-duplication key
    (code, source, collectedAt, featureSlug) is a plain unique constraint on every backend
    (NULLs are distinct in unique constraints).
    """

    __tablename__ = "sc_samples"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code", "source", "collected_at", "feature_slug"),
        Index("ix_sc_samples_tenant_collected", "tenant_id", "collected_at"),
        # Covers the SC-001 histogram of registrations (value range counts per tenant) without table reads.
        Index(
            "ix_sc_samples_registered_values",
            "tenant_id",
            "code",
            "value",
            sqlite_where=text("scaffold_id IS NOT NULL"),
            postgresql_where=text("scaffold_id IS NOT NULL"),
        ),
        # A registration contributes exactly one SC-001 sample (api.md §3), whichever request records it.
        Index("uq_sc_samples_scaffold_id", "scaffold_id", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    code: Mapped[str] = mapped_column(String(6))
    value: Mapped[float] = mapped_column(Float)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(16))
    feature_slug: Mapped[str] = mapped_column(String(64), default="")
    # Set when the sample was produced by a scaffold registration (feeds the SC-001 histogram).
    scaffold_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScTarget(Base):
    """A tenant's own target for one criterion; criteria without a row use the deployment's default
    (``FOUNDATION_SC_TARGET_*``)."""

    __tablename__ = "sc_targets"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "code"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    code: Mapped[str] = mapped_column(String(6))
    value: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
