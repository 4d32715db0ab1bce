"""A tenant's scaffold registrations, newest first, optionally by lifecycle status (api.md §3)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from foundation.db import Database
from foundation.http.pagination import Page
from foundation.scaffolds.models import ScaffoldRegistration
from foundation.tenancy.service import TenantRef


async def list_registrations(
    db: Database, tenant: TenantRef, page: Page, *, status: str | None
) -> dict[str, Any]:
    """The page envelope; items are the stored representations, exactly as the GET of each serves them."""
    conditions: list[Any] = [ScaffoldRegistration.tenant_id == tenant.id]
    if status is not None:
        conditions.append(ScaffoldRegistration.status == status)
    async with db.read(tenant.id) as connection:
        total = (
            await connection.execute(
                select(func.count()).select_from(ScaffoldRegistration).where(*conditions)
            )
        ).scalar_one()
        documents: Sequence[str] = []
        if not page.is_past_end(total):
            documents = (
                (
                    await connection.execute(
                        select(ScaffoldRegistration.document)
                        .where(*conditions)
                        .order_by(ScaffoldRegistration.recorded_at.desc(), ScaffoldRegistration.id)
                        .offset(page.offset)
                        .limit(page.size)
                    )
                )
                .scalars()
                .all()
            )
    return page.envelope([json.loads(document) for document in documents], total)
