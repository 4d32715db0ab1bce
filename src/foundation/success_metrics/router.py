from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from foundation.admission.endpoints import Endpoint
from foundation.admission.routing import Admitted, declare
from foundation.http.etag import conditional_response
from foundation.http.json_encoding import dumps
from foundation.http.openapi import conditional_get_responses, problem_responses, success_headers
from foundation.http.provide import provide
from foundation.http.ratelimit import EndpointClass
from foundation.http.responses import json_response
from foundation.success_metrics.schemas import (
    IngestResult,
    SamplePage,
    SampleQuery,
    SamplesIn,
    ScorecardOut,
    ScorecardQuery,
    TargetsIn,
)
from foundation.success_metrics.scorecard import Scorecard, ScorecardService
from foundation.success_metrics.service import CACHE_KIND, NewSample, SampleService

router = APIRouter(tags=["success-metrics"])
Samples = Annotated[SampleService, Depends(provide(SampleService))]
Scorecards = Annotated[ScorecardService, Depends(provide(ScorecardService))]

LIST_SAMPLES = Endpoint(
    "GET",
    "/api/v1/tenant-metrics/{tenantId}/sc",
    scopes=("metrics.read",),
    budget=EndpointClass.metrics_read,
    query=SampleQuery,
    cache=CACHE_KIND,
    direct=True,
)
INGEST_SAMPLES = Endpoint(
    "POST",
    "/api/v1/tenant-metrics/{tenantId}/sc",
    scopes=("metrics.write",),
    budget=EndpointClass.write,
    body=SamplesIn,
    direct=True,
)
SCORECARD = Endpoint(
    "GET",
    "/api/v1/tenant-metrics/{tenantId}/sc/summary",
    scopes=("metrics.read",),
    budget=EndpointClass.metrics_read,
    query=ScorecardQuery,
    conditional=True,
    direct=True,
)
SET_TARGETS = Endpoint(
    "PUT",
    "/api/v1/tenant-metrics/{tenantId}/sc/targets",
    scopes=("metrics.write",),
    budget=EndpointClass.write,
    body=TargetsIn,
    direct=True,
)


@declare(
    router,
    LIST_SAMPLES,
    summary="List a tenant's success-metric samples, newest first",
    response_model=SamplePage,
    responses={200: {"headers": success_headers()}, **problem_responses(400, 404, 429)},
)
async def list_samples(admission: Admitted, samples: Samples) -> Response:
    query: SampleQuery = admission.query
    page = await samples.page(admission.subject, query.to_page(), code=query.code, since=query.since)
    return json_response(page)


@declare(
    router,
    INGEST_SAMPLES,
    summary="Ingest success-metric samples (duplicates are ignored)",
    status_code=201,
    response_model=IngestResult,
    responses={201: {"headers": success_headers()}, **problem_responses(400, 404, 413, 429)},
)
async def ingest_samples(admission: Admitted, samples: Samples) -> Response:
    body: SamplesIn = admission.body
    new = [
        NewSample(s.code, float(s.value), s.collectedAt, s.source.value, s.featureSlug) for s in body.samples
    ]
    accepted, duplicates = await samples.ingest(admission.subject, new)
    return json_response({"accepted": accepted, "duplicates": duplicates}, status_code=201)


def _scorecard_response(request: Request, card: Scorecard) -> Response:
    return conditional_response(request.scope, dumps(card.body), card.etag)


@declare(
    router,
    SCORECARD,
    summary="The tenant's success-criteria scorecard: each criterion against its target",
    response_model=ScorecardOut,
    responses={
        200: {"headers": success_headers(etag=True)},
        **conditional_get_responses(),
        **problem_responses(400, 404, 429),
    },
)
async def scorecard_summary(request: Request, admission: Admitted, scorecards: Scorecards) -> Response:
    query: ScorecardQuery = admission.query
    return _scorecard_response(request, await scorecards.summary(admission.subject, query.window))


@declare(
    router,
    SET_TARGETS,
    summary="Set the tenant's own targets (null restores the deployment default); answers the scorecard",
    response_model=ScorecardOut,
    responses={200: {"headers": success_headers(etag=True)}, **problem_responses(400, 404, 413, 429)},
)
async def put_targets(request: Request, admission: Admitted, scorecards: Scorecards) -> Response:
    body: TargetsIn = admission.body
    card = await scorecards.set_targets(admission.subject, {t.code: t.value for t in body.targets})
    return _scorecard_response(request, card)
