from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from starlette.responses import Response

from foundation.auth.scopes import requires
from foundation.http.etag import CONDITIONAL_CACHE_CONTROL, if_none_match_matches
from foundation.http.openapi import conditional_get_responses, problem_responses, success_headers
from foundation.http.ratelimit import EndpointClass
from foundation.http.responses import JsonResponse, json_response
from foundation.problems import Kinds, ProblemError, Violation
from foundation.tenancy.dependencies import limited_path_tenant
from foundation.tenancy.service import TenantRef
from foundation.themes import css, service
from foundation.themes.schemas import SEMVER, ThemePublishRequest, ThemePublishResponse, ThemeResponse

router = APIRouter(prefix="/api/v1/tenants/{tenantId}/themes", tags=["themes"])

VersionPath = Annotated[
    str, Path(description="SemVer version, e.g. 1.4.0.", max_length=64, pattern=SEMVER.pattern)
]
IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]


@router.get(
    "/current",
    summary="Current design tokens of a tenant",
    response_model=ThemeResponse,
    dependencies=[requires("tokens.read")],
    responses={
        200: {"headers": success_headers(etag=True)},
        **conditional_get_responses(),
        **problem_responses(400, 404, 429),
    },
)
async def get_current_theme(
    request: Request,
    tenant: Annotated[TenantRef, Depends(limited_path_tenant(EndpointClass.theme_read))],
    if_none_match: IfNoneMatch = None,
) -> Response:
    theme = await service.current_theme(request.app.state.db, tenant)
    headers = {"ETag": theme.etag, "Cache-Control": CONDITIONAL_CACHE_CONTROL}
    if if_none_match_matches(if_none_match, theme.etag):
        return Response(status_code=304, headers=headers)
    return JsonResponse(theme.document, headers=headers)


@router.get(
    "/current.css",
    summary="Current design tokens of a tenant as CSS custom properties",
    response_class=css.CssResponse,
    dependencies=[requires("tokens.read")],
    responses={
        200: {
            "description": '`--<token name, dots as dashes>: <value>;` in `:root[data-tenant="<slug>"]` '
            "(and `:root` with `root=1`); values are escaped so they cannot leave their declaration.",
            "content": {css.CSS_MEDIA_TYPE: {"schema": {"type": "string"}}},
            "headers": success_headers(etag=True),
        },
        **conditional_get_responses(),
        **problem_responses(400, 404, 429),
    },
)
async def get_current_theme_css(
    request: Request,
    tenant: Annotated[TenantRef, Depends(limited_path_tenant(EndpointClass.theme_read))],
    if_none_match: IfNoneMatch = None,
    root: Annotated[
        bool, Query(description="Also declare the properties on `:root` (a page serving one tenant).")
    ] = False,
) -> Response:
    stylesheet = await css.current_css(request.app.state.db, tenant, root=root)
    headers = {"ETag": stylesheet.etag, "Cache-Control": CONDITIONAL_CACHE_CONTROL}
    if if_none_match_matches(if_none_match, stylesheet.etag):
        return Response(status_code=304, headers=headers)
    return css.CssResponse(stylesheet.body, headers=headers)


@router.put(
    "/{version}",
    summary="Publish a theme version",
    response_model=ThemePublishResponse,
    status_code=201,
    dependencies=[requires("tokens.write")],
    responses={
        200: {
            "description": "Identical payload already published",
            "model": ThemePublishResponse,
            "headers": success_headers(etag=True),
        },
        201: {"headers": success_headers(etag=True)},
        **problem_responses(400, 404, 409, 413, 429),
    },
)
async def publish_theme(
    request: Request,
    version: VersionPath,
    body: ThemePublishRequest,
    tenant: Annotated[TenantRef, Depends(limited_path_tenant(EndpointClass.write))],
) -> Response:
    if not SEMVER.fullmatch(version):
        raise ProblemError(
            Kinds.validation,
            "The version must be a SemVer string such as 1.2.0.",
            violations=[Violation("version", "must be a SemVer version (MAJOR.MINOR.PATCH)")],
        )
    result = await service.publish_theme(
        request.app.state.db, tenant, version, body.categories.model_dump(), body.makeCurrent
    )
    payload = {**result.representation, "current": result.current, "warnings": result.warnings}
    headers = {"ETag": result.etag}
    return json_response(payload, status_code=201 if result.created else 200, headers=headers)
