"""A page past the end (page=1000000) costs what page 1 costs: the count only, never an OFFSET scan."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from foundation.db import Database, utcnow
from foundation.design_system.schemas import StoryIn
from foundation.design_system.service import ResolvedStory, upsert_stories
from foundation.success_metrics.service import NewSample, SampleService
from foundation.tenancy.service import TenantDirectory
from tests.conftest import ALFA

PATHS = (f"/api/v1/tenant-metrics/{ALFA}/sc?code=SC-002", "/api/v1/design-system/stories")


@contextmanager
def statements(app: Any) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "set_config" not in statement:
            seen.append(statement)

    engine = app.state.services[Database].engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def add_data(db: Any) -> None:
    """Three SC-002 samples and a story of tenant A (the seeded database has neither)."""
    tenant = await TenantDirectory(db).find(ALFA)
    assert tenant is not None
    now = utcnow()
    await SampleService(db).ingest(
        tenant, [NewSample("SC-002", 0.9, now - timedelta(days=d), "ci") for d in range(3)]
    )
    story = StoryIn.model_validate(
        {
            "tenantId": None,
            "componentId": "card",
            "storyId": "card--deep",
            "tags": ["t"],
            "coveragePercent": 50,
            "axeStatus": "pass",
            "chromaticBuild": "b1",
            "storybookUrl": "https://storybook.local/x",
        }
    )
    await upsert_stories(db, [ResolvedStory(tenant.id, story)], tenant)


@pytest.mark.parametrize("path", PATHS)
async def test_a_page_past_the_end_runs_the_count_only(
    make_client: Callable[..., httpx.AsyncClient], path: str
) -> None:
    async with make_client(read_cache_seconds=0, rate_limit_enabled=False) as client:
        app = client.app  # type: ignore[attr-defined]
        await add_data(app.state.services[Database])
        headers = {"X-Tenant-Id": ALFA}
        await client.get(path, headers=headers)  # tenant lookup cached: only the list's own statements below
        with statements(app) as first:
            page_1 = await client.get(path, headers=headers, params={"per_page": 1})
        with statements(app) as deep:
            far = await client.get(path, headers=headers, params={"per_page": 1, "page": 1_000_000})
    assert page_1.status_code == far.status_code == 200
    assert far.json()["data"] == [] and far.json()["pagination"]["page"] == 1_000_000
    assert far.json()["pagination"]["totalItems"] == page_1.json()["pagination"]["totalItems"]
    assert any("LIMIT" in s for s in first)
    assert len(deep) == 1 and "count(" in deep[0].lower() and "OFFSET" not in deep[0], deep
