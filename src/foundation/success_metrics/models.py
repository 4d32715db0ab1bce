from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from foundation.db import Base, UTCDateTime, utcnow
from foundation.observability.buckets import SC001_BUCKETS


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
        # Tenant metrics filtered by code, in collected_at order (migration 0006).
        Index("ix_sc_samples_tenant_code_collected", "tenant_id", "code", "collected_at"),
        # The most recent registrations across tenants: the per-feature SC-001 series of /metrics.
        Index(
            "ix_sc_samples_registered_recent",
            "code",
            "collected_at",
            "created_at",
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


SC001_BUCKET_COLUMNS = tuple(f"le_{bound}" for bound in SC001_BUCKETS)


class Sc001Histogram(Base):
    """A tenant's SC-001 distribution of registrations: cumulative counts per bucket (``le_<minutes>``).

    Maintained by database triggers on ``sc_samples`` (migration 0006), never written by the application:
    every insert or delete of a registration's SC-001 sample updates its tenant's row in the same
    transaction, so a ``/metrics`` scrape reads one row per tenant however many registrations there are.
    """

    __tablename__ = "sc001_histograms"
    __table_args__ = tuple(Column(name, BigInteger, nullable=False) for name in SC001_BUCKET_COLUMNS)

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), primary_key=True)
    observations: Mapped[int] = mapped_column(BigInteger)
    total_minutes: Mapped[float] = mapped_column(Float)


class ScTarget(Base):
    """A tenant's own target for one criterion; criteria without a row use the deployment's default
    (``FOUNDATION_SC_TARGET_*``)."""

    __tablename__ = "sc_targets"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "code"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    code: Mapped[str] = mapped_column(String(6))
    value: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
