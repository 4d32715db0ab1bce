from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, PrimaryKeyConstraint, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from foundation.db import Base, JsonDocument, UTCDateTime, utcnow


class ScaffoldRegistration(Base):
    __tablename__ = "scaffold_registrations"
    __table_args__ = (UniqueConstraint("tenant_id", "feature_slug"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), index=True)
    feature_slug: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="initiated")
    initiated_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    document: Mapped[str] = mapped_column(Text)
    etag: Mapped[str] = mapped_column(String(40))


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
