"""Design-system stories: tenant-isolated listing (own + global) and batch upsert."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.exc import IntegrityError

from foundation.db import Database, utcnow
from foundation.design_system.models import GLOBAL_SCOPE, Story, StoryTag
from foundation.design_system.schemas import StoryIn
from foundation.errors import Busy, FieldError, InvalidInput, UnknownTenant
from foundation.http.json_encoding import rfc3339
from foundation.http.pagination import Page
from foundation.http.read_cache import ReadCache
from foundation.read_changes import record_change
from foundation.tenancy.service import TenantDirectory, TenantRef


@dataclass(frozen=True)
class ResolvedStory:
    tenant_id: uuid.UUID | None
    item: StoryIn


def _scope(tenant_id: uuid.UUID | None) -> str:
    return str(tenant_id) if tenant_id else GLOBAL_SCOPE


async def resolve_owners(
    tenants: TenantDirectory, items: Sequence[StoryIn], acting_tenant: TenantRef | None
) -> list[ResolvedStory]:
    """Each item's tenant (UUID or slug, or null for global); all problems are reported at once.

    An item of another tenant than ``X-Tenant-Id`` is invalid (400); when the only problem is tenants that
    do not exist, the answer is ``404 tenant_not_found`` with the same per-item violations.
    """
    resolved: list[ResolvedStory] = []
    unknown: list[FieldError] = []
    foreign: list[FieldError] = []
    for index, item in enumerate(items):
        owner = await tenants.find(item.tenantId) if item.tenantId is not None else None
        field = f"stories[{index}].tenantId"
        if item.tenantId is not None and owner is None:
            unknown.append(FieldError(field, "unknown tenant"))
        elif acting_tenant is not None and owner is not None and owner.id != acting_tenant.id:
            foreign.append(FieldError(field, "must be the X-Tenant-Id tenant or null"))
        resolved.append(ResolvedStory(owner.id if owner else None, item))
    if foreign:
        errors = sorted([*foreign, *unknown], key=lambda v: _item_index(v.field))
        raise InvalidInput("Some stories are invalid; nothing was written.", errors=errors)
    if unknown:
        raise UnknownTenant("Some stories name unknown tenants; nothing was written.", errors=unknown)
    return resolved


def _item_index(field: str) -> int:
    return int(field.split("[", 1)[1].split("]", 1)[0])


# Read-cache kind of story answers; any upsert may touch global stories, so it clears every tenant's entries.
CACHE_KIND = "stories"
STORY_COLUMNS = (
    Story.id,
    Story.tenant_id,
    Story.component_id,
    Story.story_id,
    Story.coverage_percent,
    Story.axe_status,
    Story.chromatic_build,
    Story.storybook_url,
    Story.updated_at,
)


async def list_stories(
    db: Database, tenant: TenantRef, page: Page, *, component_id: str | None, tag: str | None
) -> dict[str, Any]:
    conditions: list[Any] = [or_(Story.tenant_id == tenant.id, Story.tenant_id.is_(None))]
    if component_id is not None:
        conditions.append(Story.component_id == component_id)
    if tag is not None:
        conditions.append(exists().where(StoryTag.story_pk == Story.id, StoryTag.tag == tag))
    async with db.read(tenant.id) as connection:
        total = (
            await connection.execute(select(func.count()).select_from(Story).where(*conditions))
        ).scalar_one()
        stories: Sequence[Any] = []
        tags: dict[uuid.UUID, list[str]] = defaultdict(list)
        if not page.is_past_end(total):
            stories = (
                await connection.execute(
                    select(*STORY_COLUMNS)
                    .where(*conditions)
                    .order_by(Story.updated_at.desc(), Story.component_id, Story.story_id, Story.id)
                    .offset(page.offset)
                    .limit(page.size)
                )
            ).all()
            if stories:
                tag_rows = await connection.execute(
                    select(StoryTag.story_pk, StoryTag.tag)
                    .where(StoryTag.story_pk.in_([s.id for s in stories]))
                    .order_by(StoryTag.story_pk, StoryTag.position)
                )
                for story_pk, value in tag_rows:
                    tags[story_pk].append(value)
    return page.envelope([_document(story, tags[story.id]) for story in stories], total)


def _document(story: Any, tags: list[str]) -> dict[str, Any]:
    """``story`` is a row of :data:`STORY_COLUMNS` (same attribute names as the model)."""
    return {
        "id": str(story.id),
        "tenantId": str(story.tenant_id) if story.tenant_id else None,
        "componentId": story.component_id,
        "storyId": story.story_id,
        "tags": tags,
        "coveragePercent": story.coverage_percent,
        "axeStatus": story.axe_status,
        "chromaticBuild": story.chromatic_build,
        "storybookUrl": story.storybook_url,
        "updatedAt": rfc3339(story.updated_at),
    }


async def upsert_stories(
    db: Database, stories: Sequence[ResolvedStory], acting_tenant: TenantRef | None
) -> int:
    """All or nothing: one transaction; a concurrent insert of the same key is retried as an update."""
    for _attempt in range(3):
        try:
            async with db.transaction(acting_tenant.id if acting_tenant else None, write=True) as session:
                changed = False
                for resolved in stories:
                    # Platform-wide batches (no X-Tenant-Id) write each story under its own tenant.
                    await db.set_tenant(
                        session,
                        resolved.tenant_id or (acting_tenant.id if acting_tenant else None),
                        platform=True,
                    )
                    changed |= await _upsert_one(session, resolved)
                if changed:
                    await record_change(session, CACHE_KIND, None)
            return len(stories)
        except IntegrityError:
            continue
    raise Busy("Stories are being updated concurrently; retry.", retry_after=1)


class StoryService:
    def __init__(self, db: Database, tenants: TenantDirectory, cache: ReadCache | None = None) -> None:
        self.db = db
        self.tenants = tenants
        self.cache = cache if cache is not None else ReadCache(0)

    async def page(
        self, viewer: TenantRef, page: Page, *, component_id: str | None, tag: str | None
    ) -> dict[str, Any]:
        return await list_stories(self.db, viewer, page, component_id=component_id, tag=tag)

    async def upsert(self, items: Sequence[StoryIn], acting_tenant: TenantRef | None) -> int:
        resolved = await resolve_owners(self.tenants, items, acting_tenant)
        upserted = await upsert_stories(self.db, resolved, acting_tenant)
        self.cache.invalidate(CACHE_KIND)
        return upserted


async def _upsert_one(session: Any, resolved: ResolvedStory) -> bool:
    """Insert or update one story; False when it is stored exactly so already (``updatedAt`` and the list's
    ETag stay: re-sending the same Storybook build is a no-op)."""
    item = resolved.item
    scope = _scope(resolved.tenant_id)
    story = (
        await session.execute(
            select(Story).where(
                Story.scope == scope, Story.component_id == item.componentId, Story.story_id == item.storyId
            )
        )
    ).scalar_one_or_none()
    unique_tags = list(dict.fromkeys(item.tags))
    fields = {
        "coverage_percent": float(item.coveragePercent),
        "axe_status": item.axeStatus.value,
        "chromatic_build": item.chromaticBuild,
        "storybook_url": item.storybookUrl,
    }
    if story is None:
        story = Story(
            id=uuid.uuid4(),
            tenant_id=resolved.tenant_id,
            scope=scope,
            component_id=item.componentId,
            story_id=item.storyId,
        )
        session.add(story)
    elif all(getattr(story, name) == value for name, value in fields.items()):
        stored_tags = await session.execute(
            select(StoryTag.tag).where(StoryTag.story_pk == story.id).order_by(StoryTag.position)
        )
        if list(stored_tags.scalars()) == unique_tags:
            return False
    for name, value in fields.items():
        setattr(story, name, value)
    story.updated_at = utcnow()
    await session.flush()
    await session.execute(delete(StoryTag).where(StoryTag.story_pk == story.id))
    session.add_all(
        StoryTag(story_pk=story.id, tag=tag, position=index, tenant_id=resolved.tenant_id)
        for index, tag in enumerate(unique_tags)
    )
    await session.flush()
    return True
