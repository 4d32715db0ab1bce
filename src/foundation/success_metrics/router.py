from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from foundation.auth.scopes import requires
from foundation.http.openapi import problem_responses, success_headers
from foundation.http.pagination import Page, pagination
from foundation.http.ratelimit import EndpointClass
from foundation.http.responses import json_response
from foundation.success_metrics import service
from foundation.success_metrics.schemas import IngestResult, Rfc3339, SamplePage, SamplesIn
from foundation.tenancy.dependencies import limited_path_tenant
from foundation.tenancy.service import TenantRef

router = APIRouter(prefix="/api/v1/tenant-metrics/{tenantId}/sc", tags=["success-metrics"])


@router.get(
    "",
    summary="List a tenant's success-metric samples, newest first",
    response_model=SamplePage,
    dependencies=[requires("metrics.read")],
    responses={200: {"headers": success_headers()}, **problem_responses(400, 404, 429)},
)
async def list_samples(
    request: Request,
    tenant: Annotated[TenantRef, Depends(limited_path_tenant(EndpointClass.metrics_read))],
    page: Annotated[Page, Depends(pagination)],
    code: Annotated[str | None, Query(pattern=r"^SC-00[1-5]$", description="SC-001..SC-005")] = None,
    since: Annotated[Rfc3339 | None, Query(description="RFC 3339 with an offset, inclusive.")] = None,
) -> Response:
    body = await service.list_samples(request.app.state.db, tenant, page, code=code, since=since)
    return json_response(body)


@router.post(
    "",
    summary="Ingest success-metric samples (duplicates are ignored)",
    status_code=201,
    response_model=IngestResult,
    dependencies=[requires("metrics.write")],
    responses={201: {"headers": success_headers()}, **problem_responses(400, 404, 413, 429)},
)
async def ingest_samples(
    request: Request,
    body: SamplesIn,
    tenant: Annotated[TenantRef, Depends(limited_path_tenant(EndpointClass.write))],
) -> Response:
    samples = [
        service.NewSample(s.code, float(s.value), s.collectedAt, s.source.value, s.featureSlug)
        for s in body.samples
    ]
    accepted, duplicates = await service.ingest(request.app.state.db, tenant, samples)
    return json_response({"accepted": accepted, "duplicates": duplicates}, status_code=201)
