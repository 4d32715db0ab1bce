from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from foundation.db import Base, JsonDocument, UTCDateTime, utcnow


class ScaffoldRegistration(Base):
    __tablename__ = "scaffold_registrations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "feature_slug"),
        Index("ix_scaffold_registrations_tenant_recorded", "tenant_id", "recorded_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # No index of its own: the unique key (tenant_id, feature_slug) serves every lookup by tenant (0010).
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    feature_slug: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="initiated")
    initiated_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    document: Mapped[str] = mapped_column(Text)
    etag: Mapped[str] = mapped_column(String(40))
    # Lifecycle (api.md §3): startedAt, else recordedAt; events recorded so far (each event's conditional
    # update requires the count it read, so two racing events cannot both apply).
    initiated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class IdempotencyRecord(Base):
    """One Idempotency-Key of one tenant: the request fingerprint and the registration it produced."""

    __tablename__ = "idempotency_records"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "idempotency_key"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    scaffold_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("scaffold_registrations.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ScaffoldEvent(Base):
    """One lifecycle event of a registration; ``seq`` is its position in arrival order (1, 2, ...)."""

    __tablename__ = "scaffold_events"
    __table_args__ = (UniqueConstraint("scaffold_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), index=True)
    scaffold_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("scaffold_registrations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    commit_hash: Mapped[str | None] = mapped_column(String(40), nullable=True)
    pipeline_url: Mapped[str | None] = mapped_column(String(512), nullable=True)
    stage: Mapped[str | None] = mapped_column(String(16), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class EventIdempotencyRecord(Base):
    """One Idempotency-Key of the events endpoint of one tenant: the fingerprint and the event it recorded."""

    __tablename__ = "scaffold_event_keys"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "idempotency_key"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    scaffold_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("scaffold_registrations.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("scaffold_events.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
