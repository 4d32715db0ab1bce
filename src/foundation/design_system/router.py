from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from foundation.admission.endpoints import Endpoint, TenantSource
from foundation.admission.routing import Admitted, declare
from foundation.design_system.schemas import StoriesIn, StoryPage, StoryQuery, UpsertResult
from foundation.design_system.service import CACHE_KIND, StoryService
from foundation.http.etag import conditional_response
from foundation.http.json_encoding import dumps, weak_etag_of_canonical
from foundation.http.openapi import conditional_get_responses, problem, problem_responses, success_headers
from foundation.http.provide import provide
from foundation.http.ratelimit import EndpointClass
from foundation.http.responses import json_response

router = APIRouter(tags=["design-system"])
Stories = Annotated[StoryService, Depends(provide(StoryService))]

# The binding check reads at most this many items of an upsert (the schema allows no more).
MAX_STORY_ITEMS_CHECKED = 500


def story_owners(payload: Any) -> Iterator[str | None]:
    """Tenants an upsert body names (null: a global story), read from the raw JSON before validation."""
    stories = payload.get("stories") if isinstance(payload, dict) else None
    for item in stories[:MAX_STORY_ITEMS_CHECKED] if isinstance(stories, list) else ():
        owner = item.get("tenantId") if isinstance(item, dict) else 0  # 0: not an item, names no one
        if owner is None or isinstance(owner, str):
            yield owner


LIST_STORIES = Endpoint(
    "GET",
    "/api/v1/design-system/stories",
    scopes=("design-system.read",),
    budget=EndpointClass.stories_read,
    tenant=TenantSource.header_or_default,
    query=StoryQuery,
    cache=CACHE_KIND,
    conditional=True,
    direct=True,
)
UPSERT_STORIES = Endpoint(
    "PUT",
    "/api/v1/design-system/stories",
    scopes=("design-system.write",),
    budget=EndpointClass.write,
    tenant=TenantSource.header_or_platform,
    body=StoriesIn,
    body_tenants=story_owners,
    direct=True,
)


@declare(
    router,
    LIST_STORIES,
    summary="List design-system stories (the tenant's own and global ones)",
    response_model=StoryPage,
    responses={
        200: {"headers": success_headers(etag=True)},
        **conditional_get_responses(),
        **problem_responses(400, 404, 429),
    },
)
async def list_stories(request: Request, admission: Admitted, stories: Stories) -> Response:
    query: StoryQuery = admission.query
    body = await stories.page(
        admission.subject, query.to_page(), component_id=query.componentId, tag=query.tag
    )
    document = dumps(body)
    return conditional_response(request.scope, document, weak_etag_of_canonical(document))


@declare(
    router,
    UPSERT_STORIES,
    summary="Batch upsert of stories from Storybook/Chromatic CI",
    response_model=UpsertResult,
    responses={
        200: {"headers": success_headers()},
        **problem_responses(400, 413, 429),
        404: problem(
            404, "X-Tenant-Id or an item's tenantId names no known tenant (violations list the items)"
        ),
    },
)
async def upsert_stories(admission: Admitted, stories: Stories) -> Response:
    body: StoriesIn = admission.body
    return json_response({"upserted": await stories.upsert(body.stories, admission.named)})
