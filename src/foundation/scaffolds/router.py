from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from foundation.admission.endpoints import Endpoint
from foundation.admission.routing import Admitted, declare, path_parameter
from foundation.asgi import header_text
from foundation.errors import NotFound
from foundation.http.etag import conditional_response, if_none_match_matches, is_wildcard
from foundation.http.openapi import conditional_get_responses, problem_responses, success_headers
from foundation.http.problem_kinds import Kinds, ProblemError
from foundation.http.provide import provide
from foundation.http.ratelimit import EndpointClass
from foundation.http.responses import JsonResponse, json_response
from foundation.observability import metrics
from foundation.scaffolds import service
from foundation.scaffolds.registry import ScaffoldService
from foundation.scaffolds.schemas import (
    FEATURE_SLUG,
    MAX_FEATURE_SLUG,
    ScaffoldEventRequest,
    ScaffoldPage,
    ScaffoldQuery,
    ScaffoldRequest,
    ScaffoldResponse,
)
from foundation.tenancy.service import TenantRef

router = APIRouter(tags=["scaffolding"])
Scaffolds = Annotated[ScaffoldService, Depends(provide(ScaffoldService))]


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


REGISTER_SCAFFOLD = Endpoint(
    "POST",
    "/api/v1/tenants/{tenantId}/features/scaffold",
    scopes=("scaffolding.write",),
    budget=EndpointClass.scaffold,
    idempotent=True,
    body=ScaffoldRequest,
    direct=True,
    on_answer=count_outcome,
)
READ_SCAFFOLD = Endpoint(
    "GET",
    "/api/v1/tenants/{tenantId}/features/scaffold/{featureSlug}",
    scopes=("scaffolding.write", "metrics.read"),
    budget=EndpointClass.scaffold_read,
    conditional=True,
    direct=True,
)
LIST_SCAFFOLDS = Endpoint(
    "GET",
    "/api/v1/tenants/{tenantId}/features/scaffold",
    scopes=("scaffolding.write", "metrics.read"),
    budget=EndpointClass.scaffold_read,
    query=ScaffoldQuery,
    direct=True,
)
# Lifecycle events are not registration attempts: no outcome hook (foundation_scaffold_registrations_total).
RECORD_EVENT = Endpoint(
    "POST",
    "/api/v1/tenants/{tenantId}/features/scaffold/{featureSlug}/events",
    scopes=("scaffolding.write",),
    budget=EndpointClass.scaffold,
    idempotent=True,
    body=ScaffoldEventRequest,
    direct=True,
)

_REPLAY_HEADER = {
    "Idempotent-Replayed": {"description": "Present (true) on replays.", "schema": {"type": "string"}}
}
_ECHO_HEADER = {"Idempotency-Key": {"description": "Echo of the request key.", "schema": {"type": "string"}}}


@declare(
    router,
    REGISTER_SCAFFOLD,
    summary="Register a feature scaffold",
    status_code=201,
    response_model=ScaffoldResponse,
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
    openapi_extra={
        "parameters": [
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "On a replay: a matching ETag answers 304, * answers 412.",
                "schema": {"type": "string"},
            }
        ]
    },
)
async def register_scaffold(request: Request, admission: Admitted, scaffolds: Scaffolds) -> Response:
    key = admission.idempotency_key
    result = await scaffolds.register(admission.subject, key, admission.body)
    headers = {"ETag": result.etag, "Location": result.location, "Idempotency-Key": key}
    if result.outcome is service.Outcome.created:
        return JsonResponse(result.representation, status_code=201, headers=headers)
    headers["Idempotent-Replayed"] = "true"
    if_none_match = header_text(request.scope, b"if-none-match")
    if is_wildcard(if_none_match):
        raise ProblemError(
            Kinds.precondition,
            "If-None-Match: * failed: a registration already exists for this key.",
            headers={"ETag": result.etag},
        )
    if if_none_match_matches(if_none_match, result.etag):
        return Response(status_code=304, headers=headers)
    return JsonResponse(result.representation, status_code=200, headers=headers)


@declare(
    router,
    READ_SCAFFOLD,
    summary="Read a scaffold registration",
    response_model=ScaffoldResponse,
    responses={
        200: {"headers": success_headers(etag=True)},
        **conditional_get_responses(),
        **problem_responses(400, 404, 429),
    },
    openapi_extra={"parameters": [path_parameter("featureSlug", "Feature slug; unknown ones are 404.")]},
)
async def get_scaffold(request: Request, admission: Admitted, scaffolds: Scaffolds) -> Response:
    tenant, feature_slug = admission.subject, _feature_slug(request, admission.subject)
    document, etag = await scaffolds.get(tenant, feature_slug)
    return conditional_response(request.scope, document, etag)


def _feature_slug(request: Request, tenant: TenantRef) -> str:
    """The path's ``featureSlug``; one that no registration can have is 404, like an unknown one."""
    feature_slug: str = request.path_params["featureSlug"]
    if len(feature_slug) > MAX_FEATURE_SLUG or not re.fullmatch(FEATURE_SLUG, feature_slug):
        raise NotFound(f"No scaffold registration {feature_slug!r} for {tenant.slug}.")
    return feature_slug


@declare(
    router,
    LIST_SCAFFOLDS,
    summary="List scaffold registrations, newest first",
    response_model=ScaffoldPage,
    responses={200: {"headers": success_headers()}, **problem_responses(400, 404, 429)},
)
async def list_scaffolds(admission: Admitted, scaffolds: Scaffolds) -> Response:
    query: ScaffoldQuery = admission.query
    page = await scaffolds.list(admission.subject, query.to_page(), status=query.status)
    return json_response(page)


@declare(
    router,
    RECORD_EVENT,
    summary="Record a lifecycle event of a registration (linted, tested, published, failed)",
    status_code=201,
    response_model=ScaffoldResponse,
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
    openapi_extra={"parameters": [path_parameter("featureSlug", "Feature slug; unknown ones are 404.")]},
)
async def record_scaffold_event(request: Request, admission: Admitted, scaffolds: Scaffolds) -> Response:
    key = admission.idempotency_key
    feature_slug = _feature_slug(request, admission.subject)
    result = await scaffolds.record_event(admission.subject, key, feature_slug, admission.body)
    headers = {"ETag": result.etag, "Location": result.location, "Idempotency-Key": key}
    if result.created:
        return JsonResponse(result.representation, status_code=201, headers=headers)
    headers["Idempotent-Replayed"] = "true"
    return JsonResponse(result.representation, status_code=200, headers=headers)
