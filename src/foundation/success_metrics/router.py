from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from foundation.auth.scopes import requires
from foundation.http.etag import CONDITIONAL_CACHE_CONTROL, if_none_match_matches
from foundation.http.openapi import conditional_get_responses, problem_responses, success_headers
from foundation.http.pagination import Page, pagination
from foundation.http.ratelimit import EndpointClass
from foundation.http.responses import json_response
from foundation.problems import Kinds, ProblemError, Violation
from foundation.success_metrics import scorecard, service
from foundation.success_metrics.schemas import (
    IngestResult,
    Rfc3339,
    SamplePage,
    SamplesIn,
    ScorecardOut,
    TargetsIn,
)
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


WINDOW_DESCRIPTION = (
    "ISO 8601 duration of one unit ending now: P1D..P365D, P1W..P52W, P1M..P12M (calendar months) or P1Y; "
    "default P30D. SC-005 always uses the calendar quarter (UTC) containing the window's end."
)


def _window(text: str | None) -> scorecard.Window:
    try:
        return scorecard.parse_window(text, scorecard.request_time())
    except scorecard.InvalidWindow as exc:
        raise ProblemError(
            Kinds.validation, "Invalid scorecard window.", [Violation("window", str(exc))]
        ) from None


def _scorecard_response(card: scorecard.Scorecard, if_none_match: str | None = None) -> Response:
    headers = {"ETag": card.etag, "Cache-Control": CONDITIONAL_CACHE_CONTROL}
    if if_none_match_matches(if_none_match, card.etag):
        return Response(status_code=304, headers=headers)
    return json_response(card.body, headers=headers)


@router.get(
    "/summary",
    summary="The tenant's success-criteria scorecard: each criterion against its target",
    response_model=ScorecardOut,
    dependencies=[requires("metrics.read")],
    responses={
        200: {"headers": success_headers(etag=True)},
        **conditional_get_responses(),
        **problem_responses(400, 404, 429),
    },
)
async def scorecard_summary(
    request: Request,
    tenant: Annotated[TenantRef, Depends(limited_path_tenant(EndpointClass.metrics_read))],
    window: Annotated[
        str | None,
        # Documented, not enforced by FastAPI: the route's own check answers with a readable violation.
        Query(description=WINDOW_DESCRIPTION, json_schema_extra={"pattern": scorecard.WINDOW_PATTERN}),
    ] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    card = await scorecard.scorecard(
        request.app.state.db, request.app.state.settings, tenant, _window(window)
    )
    return _scorecard_response(card, if_none_match)


@router.put(
    "/targets",
    summary="Set the tenant's own targets (null restores the deployment default); answers the scorecard",
    response_model=ScorecardOut,
    dependencies=[requires("metrics.write")],
    responses={200: {"headers": success_headers(etag=True)}, **problem_responses(400, 404, 413, 429)},
)
async def put_targets(
    request: Request,
    body: TargetsIn,
    tenant: Annotated[TenantRef, Depends(limited_path_tenant(EndpointClass.write))],
) -> Response:
    await scorecard.set_targets(request.app.state.db, tenant, {t.code: t.value for t in body.targets})
    card = await scorecard.scorecard(request.app.state.db, request.app.state.settings, tenant, _window(None))
    return _scorecard_response(card)
