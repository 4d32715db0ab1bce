from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from foundation.db import Base, UTCDateTime, utcnow

GLOBAL_SCOPE = "global"


class Story(Base):
    """A Storybook story of a tenant, or a global one (``tenant_id`` NULL, visible to every tenant)."""

    __tablename__ = "stories"
    # ``scope`` is the tenant UUID as text or "global": the upsert key must be unique for global stories
    # too, and NULLs are distinct in unique constraints.
    __table_args__ = (
        UniqueConstraint("scope", "component_id", "story_id"),
        Index("ix_stories_tenant_updated", "tenant_id", "updated_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("tenants.id"), nullable=True)
    scope: Mapped[str] = mapped_column(String(36))
    component_id: Mapped[str] = mapped_column(String(200))
    story_id: Mapped[str] = mapped_column(String(200))
    coverage_percent: Mapped[float] = mapped_column(Float)
    axe_status: Mapped[str] = mapped_column(String(8))
    chromatic_build: Mapped[str] = mapped_column(String(200))
    storybook_url: Mapped[str] = mapped_column(String(2048))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StoryTag(Base):
    """Tags in their own table: exact-member filtering without JSON operators that differ per database."""

    __tablename__ = "story_tags"

    story_pk: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(default=0)
    # Denormalised so row-level security can filter tags like their story.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("tenants.id"), nullable=True)
