from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from foundation.admission.endpoints import Endpoint
from foundation.admission.routing import Admitted, declare, path_parameter
from foundation.http.etag import conditional_response
from foundation.http.openapi import conditional_get_responses, problem_responses, success_headers
from foundation.http.problem_kinds import Kinds, ProblemError, Violation
from foundation.http.provide import provide
from foundation.http.ratelimit import EndpointClass
from foundation.http.responses import json_response
from foundation.themes import css
from foundation.themes.schemas import (
    SEMVER,
    CssQuery,
    ThemePublishRequest,
    ThemePublishResponse,
    ThemeResponse,
)
from foundation.themes.service import THEME_CACHE_KIND, ThemeService

router = APIRouter(tags=["themes"])
MAX_VERSION_LENGTH = 64
Themes = Annotated[ThemeService, Depends(provide(ThemeService))]

CURRENT_THEME = Endpoint(
    "GET",
    "/api/v1/tenants/{tenantId}/themes/current",
    scopes=("tokens.read",),
    budget=EndpointClass.theme_read,
    cache=THEME_CACHE_KIND,
    conditional=True,
    direct=True,
)
# Answers built from the current theme like CURRENT_THEME's: kept by the response cache under the same kind,
# so a publish invalidates both (one entry per query string: ``root=1`` is its own).
CURRENT_THEME_CSS = Endpoint(
    "GET",
    "/api/v1/tenants/{tenantId}/themes/current.css",
    scopes=("tokens.read",),
    budget=EndpointClass.theme_read,
    query=CssQuery,
    cache=THEME_CACHE_KIND,
    conditional=True,
    direct=True,
)
PUBLISH_THEME = Endpoint(
    "PUT",
    "/api/v1/tenants/{tenantId}/themes/{version}",
    scopes=("tokens.write",),
    budget=EndpointClass.write,
    body=ThemePublishRequest,
    direct=True,
)


@declare(
    router,
    CURRENT_THEME,
    summary="Current design tokens of a tenant",
    response_model=ThemeResponse,
    responses={
        200: {"headers": success_headers(etag=True)},
        **conditional_get_responses(),
        **problem_responses(400, 404, 429),
    },
)
async def get_current_theme(request: Request, admission: Admitted, themes: Themes) -> Response:
    theme = await themes.current(admission.subject)
    return conditional_response(request.scope, theme.document, theme.etag)


@declare(
    router,
    CURRENT_THEME_CSS,
    summary="Current design tokens of a tenant as CSS custom properties",
    response_class=css.CssResponse,
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
async def get_current_theme_css(request: Request, admission: Admitted, themes: Themes) -> Response:
    query: CssQuery = admission.query
    theme = await themes.current(admission.subject)
    stylesheet = css.stylesheet(admission.subject.slug, theme.document, root=query.root)
    return conditional_response(
        request.scope, stylesheet.body, stylesheet.etag, media_type=css.CSS_MEDIA_TYPE
    )


@declare(
    router,
    PUBLISH_THEME,
    summary="Publish a theme version",
    response_model=ThemePublishResponse,
    status_code=201,
    responses={
        200: {
            "description": "Identical payload already published",
            "model": ThemePublishResponse,
            "headers": success_headers(etag=True),
        },
        201: {"headers": success_headers(etag=True)},
        **problem_responses(400, 404, 409, 413, 429),
    },
    openapi_extra={
        "parameters": [
            path_parameter(
                "version", "SemVer version, e.g. 1.4.0.", {"maxLength": 64, "pattern": SEMVER.pattern}
            )
        ]
    },
)
async def publish_theme(request: Request, admission: Admitted, themes: Themes) -> Response:
    version = request.path_params["version"]
    if len(version) > MAX_VERSION_LENGTH or not SEMVER.fullmatch(version):
        raise ProblemError(
            Kinds.validation,
            "The version must be a SemVer string such as 1.2.0.",
            violations=[Violation("version", "must be a SemVer version (MAJOR.MINOR.PATCH)")],
        )
    body: ThemePublishRequest = admission.body
    result = await themes.publish(
        admission.subject,
        version,
        body.categories.model_dump(),
        body.makeCurrent,
    )
    payload = {**result.representation, "current": result.current, "warnings": result.warnings}
    return json_response(payload, status_code=201 if result.created else 200, headers={"ETag": result.etag})
