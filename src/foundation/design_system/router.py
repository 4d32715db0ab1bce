from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from foundation.auth.scopes import requires
from foundation.design_system import service
from foundation.design_system.schemas import StoriesIn, StoryPage, UpsertResult
from foundation.http.etag import CONDITIONAL_CACHE_CONTROL, if_none_match_matches, weak_etag
from foundation.http.openapi import conditional_get_responses, problem, problem_responses, success_headers
from foundation.http.pagination import Page, pagination
from foundation.http.ratelimit import EndpointClass
from foundation.http.responses import json_response
from foundation.tenancy.dependencies import default_tenant, directory, limited_stories_tenant
from foundation.tenancy.service import TenantRef

router = APIRouter(prefix="/api/v1/design-system/stories", tags=["design-system"])


@router.get(
    "",
    summary="List design-system stories (the tenant's own and global ones)",
    response_model=StoryPage,
    dependencies=[requires("design-system.read")],
    responses={
        200: {"headers": success_headers(etag=True)},
        **conditional_get_responses(),
        **problem_responses(400, 404, 429),
    },
)
async def list_stories(
    request: Request,
    tenant: Annotated[TenantRef | None, Depends(limited_stories_tenant(EndpointClass.stories_read))],
    page: Annotated[Page, Depends(pagination)],
    component_id: Annotated[str | None, Query(alias="componentId", max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    viewer = tenant or await default_tenant(request)
    body = await service.list_stories(request.app.state.db, viewer, page, component_id=component_id, tag=tag)
    etag = weak_etag(body)
    headers = {"ETag": etag, "Cache-Control": CONDITIONAL_CACHE_CONTROL}
    if if_none_match_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return json_response(body, headers=headers)


@router.put(
    "",
    summary="Batch upsert of stories from Storybook/Chromatic CI",
    response_model=UpsertResult,
    dependencies=[requires("design-system.write")],
    responses={
        200: {"headers": success_headers()},
        **problem_responses(400, 413, 429),
        404: problem(
            404, "X-Tenant-Id or an item's tenantId names no known tenant (violations list the items)"
        ),
    },
)
async def upsert_stories(
    request: Request,
    body: StoriesIn,
    tenant: Annotated[TenantRef | None, Depends(limited_stories_tenant(EndpointClass.write))],
) -> Response:
    resolved = await service.resolve_owners(directory(request), body.stories, tenant)
    upserted = await service.upsert_stories(request.app.state.db, resolved, tenant)
    return json_response({"upserted": upserted})
