from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response

from foundation.auth.scopes import requires
from foundation.http.etag import CONDITIONAL_CACHE_CONTROL, if_none_match_matches, is_wildcard
from foundation.http.idempotency import idempotency_key
from foundation.http.openapi import conditional_get_responses, problem_responses, success_headers
from foundation.http.pagination import Page, pagination
from foundation.http.ratelimit import EndpointClass
from foundation.http.responses import JsonResponse, json_response
from foundation.observability import metrics
from foundation.problems import Kinds, ProblemError
from foundation.scaffolds import lifecycle, listing, service
from foundation.scaffolds.batching import RegistrationQueue
from foundation.scaffolds.schemas import (
    FEATURE_SLUG,
    MAX_FEATURE_SLUG,
    ScaffoldEventRequest,
    ScaffoldPage,
    ScaffoldRequest,
    ScaffoldResponse,
)
from foundation.tenancy.dependencies import limited_path_tenant
from foundation.tenancy.service import TenantRef


class OutcomeRecordingRoute(APIRoute):
    """Counts every scaffold POST in ``foundation_scaffold_registrations_total`` by its outcome."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if "POST" not in (self.methods or ()) or not self.path.endswith("/features/scaffold"):
            return handler  # reads, and lifecycle events (not registration attempts)

        async def recording_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except (ProblemError, RequestValidationError) as exc:
                status = exc.kind.status if isinstance(exc, ProblemError) else 400
                _count(request, status)
                raise
            _count(request, response.status_code)
            return response

        return recording_handler


def _count(request: Request, status: int) -> None:
    tenant = getattr(request.state, "tenant", None)
    if tenant is None:
        return  # rejected before the tenant was known: not a registration attempt of any tenant
    count_outcome(tenant, status)


def count_outcome(tenant: TenantRef, status: int) -> None:
    """``foundation_scaffold_registrations_total{tenant, outcome}`` for one answered POST."""
    if status == 201:
        outcome = "created"
    elif status in (200, 304, 412):
        outcome = "replayed"
    elif status in (409, 422):
        outcome = "conflict"
    else:
        outcome = "rejected"
    metrics.scaffold_registrations.labels(tenant.slug, outcome).inc()


router = APIRouter(
    prefix="/api/v1/tenants/{tenantId}/features/scaffold",
    tags=["scaffolding"],
    route_class=OutcomeRecordingRoute,
)
IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]
_REPLAY_HEADER = {
    "Idempotent-Replayed": {"description": "Present (true) on replays.", "schema": {"type": "string"}}
}
_ECHO_HEADER = {"Idempotency-Key": {"description": "Echo of the request key.", "schema": {"type": "string"}}}


@router.post(
    "",
    summary="Register a feature scaffold",
    status_code=201,
    response_model=ScaffoldResponse,
    dependencies=[requires("scaffolding.write")],
    responses={
        201: {"headers": success_headers(etag=True, location=True, extra=_ECHO_HEADER)},
        200: {
            "description": "Replay of the stored registration (same key and payload).",
            "model": ScaffoldResponse,
            "headers": success_headers(etag=True, location=True, extra={**_ECHO_HEADER, **_REPLAY_HEADER}),
        },
        304: {
            "description": "Replay whose ETag matches If-None-Match.",
            "headers": success_headers(etag=True),
        },
        409: {
            "description": "Feature already registered under another key.",
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
            },
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        **problem_responses(400, 404, 412, 413, 422, 429),
    },
)
async def register_scaffold(
    request: Request,
    body: ScaffoldRequest,
    tenant: Annotated[TenantRef, Depends(limited_path_tenant(EndpointClass.scaffold))],
    key: Annotated[str, Depends(idempotency_key)],
    if_none_match: IfNoneMatch = None,
) -> Response:
    registrations: RegistrationQueue = request.app.state.registrations
    result = await registrations.register(tenant, service.Attempt.of(key, body))
    headers = {"ETag": result.etag, "Location": result.location, "Idempotency-Key": key}
    if result.outcome is service.Outcome.created:
        return JsonResponse(result.representation, status_code=201, headers=headers)
    headers["Idempotent-Replayed"] = "true"
    if is_wildcard(if_none_match):
        raise ProblemError(
            Kinds.precondition,
            "If-None-Match: * failed: a registration already exists for this key.",
            headers={"ETag": result.etag},
        )
    if if_none_match_matches(if_none_match, result.etag):
        return Response(status_code=304, headers=headers)
    return JsonResponse(result.representation, status_code=200, headers=headers)


@router.get(
    "/{featureSlug}",
    summary="Read a scaffold registration",
    response_model=ScaffoldResponse,
    dependencies=[requires("scaffolding.write", "metrics.read")],
    responses={
        200: {"headers": success_headers(etag=True)},
        **conditional_get_responses(),
        **problem_responses(400, 404, 429),
    },
)
async def get_scaffold(
    request: Request,
    feature_slug: Annotated[
        str, Path(alias="featureSlug", description="Feature slug; unknown ones are 404.")
    ],
    tenant: Annotated[TenantRef, Depends(limited_path_tenant(EndpointClass.scaffold_read))],
    if_none_match: IfNoneMatch = None,
) -> Response:
    _check_slug(feature_slug, tenant)
    document, etag = await service.get_registration(request.app.state.db, tenant, feature_slug)
    headers = {"ETag": etag, "Cache-Control": CONDITIONAL_CACHE_CONTROL}
    if if_none_match_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return JsonResponse(document, headers=headers)


def _check_slug(feature_slug: str, tenant: TenantRef) -> None:
    if len(feature_slug) > MAX_FEATURE_SLUG or not re.fullmatch(FEATURE_SLUG, feature_slug):
        raise ProblemError(Kinds.not_found, f"No scaffold registration {feature_slug!r} for {tenant.slug}.")


StatusFilter = Literal["initiated", "linted", "tested", "published"]


@router.get(
    "",
    summary="List scaffold registrations, newest first",
    response_model=ScaffoldPage,
    dependencies=[requires("scaffolding.write", "metrics.read")],
    responses={200: {"headers": success_headers()}, **problem_responses(400, 404, 429)},
)
async def list_scaffolds(
    request: Request,
    tenant: Annotated[TenantRef, Depends(limited_path_tenant(EndpointClass.scaffold_read))],
    page: Annotated[Page, Depends(pagination)],
    status: Annotated[StatusFilter | None, Query(description="Only registrations in this status.")] = None,
) -> Response:
    body = await listing.list_registrations(request.app.state.db, tenant, page, status=status)
    return json_response(body)


@router.post(
    "/{featureSlug}/events",
    summary="Record a lifecycle event of a registration (linted, tested, published, failed)",
    status_code=201,
    response_model=ScaffoldResponse,
    dependencies=[requires("scaffolding.write")],
    responses={
        201: {"headers": success_headers(etag=True, location=True, extra=_ECHO_HEADER)},
        200: {
            "description": "Replay of an event already recorded under this key (same payload): the "
            "registration as it is now.",
            "model": ScaffoldResponse,
            "headers": success_headers(etag=True, location=True, extra={**_ECHO_HEADER, **_REPLAY_HEADER}),
        },
        409: {
            "description": "invalid_transition: the event would move the status backwards, or the feature is "
            "already published.",
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
            },
        },
        **problem_responses(400, 404, 413, 422, 429),
    },
)
async def record_scaffold_event(
    request: Request,
    feature_slug: Annotated[
        str, Path(alias="featureSlug", description="Feature slug; unknown ones are 404.")
    ],
    body: ScaffoldEventRequest,
    tenant: Annotated[TenantRef, Depends(limited_path_tenant(EndpointClass.scaffold))],
    key: Annotated[str, Depends(idempotency_key)],
) -> Response:
    _check_slug(feature_slug, tenant)
    ttl = timedelta(hours=request.app.state.settings.idempotency_ttl_hours)
    attempt = lifecycle.EventAttempt.of(key, feature_slug, body)
    result = await lifecycle.record_event(request.app.state.db, tenant, attempt, ttl)
    headers = {"ETag": result.etag, "Location": result.location, "Idempotency-Key": key}
    if result.created:
        return JsonResponse(result.representation, status_code=201, headers=headers)
    headers["Idempotent-Replayed"] = "true"
    return JsonResponse(result.representation, status_code=200, headers=headers)
