from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from foundation.admission.endpoints import Endpoint
from foundation.admission.routing import Admitted, declare
from foundation.http.openapi import problem_responses, success_headers
from foundation.http.provide import provide
from foundation.http.ratelimit import EndpointClass
from foundation.http.responses import json_response
from foundation.success_metrics.schemas import IngestResult, SamplePage, SampleQuery, SamplesIn
from foundation.success_metrics.service import CACHE_KIND, NewSample, SampleService

router = APIRouter(tags=["success-metrics"])
Samples = Annotated[SampleService, Depends(provide(SampleService))]

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
