from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from foundation.db import Base, JsonDocument, UTCDateTime, utcnow


class ThemeVersion(Base):
    __tablename__ = "theme_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "version"),
        # At most one current theme per tenant, enforced by the database on both backends.
        Index(
            "uq_theme_versions_current",
            "tenant_id",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    categories: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    wcag_report: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    content_fingerprint: Mapped[str] = mapped_column(String(64))
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The canonical JSON representation served by GET and its weak ETag, computed once at publish time.
    document: Mapped[str] = mapped_column(Text)
    etag: Mapped[str] = mapped_column(String(40))
