"""Success-metric samples: ingestion with de-duplication, listing, and the SC-001 distributions."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from foundation.db import Database, insert_ignoring_duplicates, utcnow
from foundation.http.json_encoding import rfc3339
from foundation.http.pagination import Page
from foundation.http.read_cache import ReadCache
from foundation.read_changes import record_changes
from foundation.success_metrics.models import ScSample
from foundation.tenancy.service import TenantRef

CACHE_KIND = "sc-samples"  # read-cache kind of answers built from samples, invalidated by every write
DEDUP_KEY = ("tenant_id", "code", "source", "collected_at", "feature_slug")


@dataclass(frozen=True)
class NewSample:
    code: str
    value: float
    collected_at: datetime
    source: str
    feature_slug: str | None = None
    scaffold_id: uuid.UUID | None = None


def sample_document(
    code: str, value: float, collected_at: datetime, source: str, feature_slug: str | None
) -> dict:
    document: dict[str, Any] = {
        "code": code,
        "value": value,
        "collectedAt": rfc3339(collected_at),
        "source": source,
    }
    if feature_slug:
        document["featureSlug"] = feature_slug
    return document


async def record_samples(
    session: AsyncSession | AsyncConnection,
    tenant_id: uuid.UUID,
    samples: Sequence[NewSample],
    *,
    count: bool = True,
) -> int | None:
    """Insert within the caller's transaction; returns how many were new (the rest were duplicates), or
    None with ``count=False``."""
    return await record_samples_of_tenants(session, {tenant_id: samples}, count=count)


async def record_samples_of_tenants(
    session: AsyncSession | AsyncConnection,
    samples: Mapping[uuid.UUID, Sequence[NewSample]],
    *,
    count: bool = True,
) -> int | None:
    """:func:`record_samples` for several tenants in one statement (where the transaction may hold them)."""
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "code": s.code,
            "value": float(s.value),
            # Stored at millisecond precision: the precision the API reports, so re-sent samples match.
            "collected_at": s.collected_at.replace(microsecond=s.collected_at.microsecond // 1000 * 1000),
            "source": s.source,
            "feature_slug": s.feature_slug or "",
            "scaffold_id": s.scaffold_id,
            "created_at": now,
        }
        for tenant_id, of_tenant in samples.items()
        for s in of_tenant
    ]
    await record_changes(session, CACHE_KIND, list(samples))
    return await insert_ignoring_duplicates(
        session,
        ScSample.__table__,  # type: ignore[arg-type]
        rows,
        DEDUP_KEY,
        count=count,
    )


class SampleService:
    def __init__(self, db: Database, cache: ReadCache | None = None) -> None:
        self.db = db
        self.cache = cache if cache is not None else ReadCache(0)

    def changed(self, tenant_id: uuid.UUID) -> None:
        """Call after committing samples of ``tenant_id`` outside :meth:`ingest` (a registration's SC-001)."""
        self.cache.invalidate(CACHE_KIND, tenant_id)

    async def ingest(self, tenant: TenantRef, samples: Sequence[NewSample]) -> tuple[int, int]:
        async with self.db.transaction(tenant.id, write=True) as session:
            accepted = await record_samples(session, tenant.id, samples) or 0
        self.changed(tenant.id)
        return accepted, len(samples) - accepted

    async def page(
        self, tenant: TenantRef, page: Page, *, code: str | None, since: datetime | None
    ) -> dict[str, Any]:
        conditions = [ScSample.tenant_id == tenant.id]
        if code:
            conditions.append(ScSample.code == code)
        if since:
            conditions.append(ScSample.collected_at >= since)
        async with self.db.read(tenant.id) as connection:
            total = (
                await connection.execute(select(func.count()).select_from(ScSample).where(*conditions))
            ).scalar_one()
            rows: Sequence[Any] = []
            if not page.is_past_end(total):
                rows = (
                    await connection.execute(
                        select(
                            ScSample.code,
                            ScSample.value,
                            ScSample.collected_at,
                            ScSample.source,
                            ScSample.feature_slug,
                        )
                        .where(*conditions)
                        .order_by(ScSample.collected_at.desc(), ScSample.created_at.desc(), ScSample.id)
                        .offset(page.offset)
                        .limit(page.size)
                    )
                ).all()
        data = [
            sample_document(r.code, r.value, r.collected_at, r.source, r.feature_slug or None) for r in rows
        ]
        return page.envelope(data, total)
