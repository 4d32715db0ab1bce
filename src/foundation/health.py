"""Liveness, readiness and the Prometheus scrape endpoint; the operational background work of a worker.

This router's lifespan (merged into the app's by ``include_router``) starts the expired-idempotency purge
(scaffolds/retention.py) and builds the ``/metrics`` endpoint (observability/scrape.py). An app served
without a lifespan (tests over ASGITransport) builds the endpoint at its first scrape and runs no purge.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from foundation.http.openapi import problem_responses
from foundation.http.responses import json_response
from foundation.observability.metrics import CONTENT_TYPE
from foundation.observability.scrape import MetricsEndpoint
from foundation.problems import Kinds, ProblemError
from foundation.scaffolds.retention import purge_periodically
from foundation.settings import Settings
from foundation.success_metrics.histograms import Sc001Reader


def metrics_endpoint(app: Any) -> MetricsEndpoint:
    endpoint: MetricsEndpoint | None = getattr(app.state, "metrics_endpoint", None)
    if endpoint is None:
        settings: Settings = app.state.settings
        reader = Sc001Reader(
            settings.database_url,
            max_tenants=settings.metrics_max_tenants,
            recent_features=settings.metrics_sc001_recent_features,
            timeout_seconds=settings.metrics_db_timeout_seconds,
        )
        endpoint = MetricsEndpoint(
            max_tenants=settings.metrics_max_tenants,
            cache_seconds=settings.metrics_cache_ttl,
            sc001=reader,
        )
        app.state.metrics_endpoint = endpoint
    return endpoint


@asynccontextmanager
async def operations(app: Any) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    endpoint = metrics_endpoint(app)
    interval = settings.purge_interval_seconds
    purge = (
        asyncio.create_task(
            purge_periodically(app.state.db, interval, settings.idempotency_purge_batch_size),
            name="idempotency-purge",
        )
        if interval > 0
        else None
    )
    yield
    if purge is not None:
        purge.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purge
    if isinstance(endpoint.sc001, Sc001Reader):
        await endpoint.sc001.dispose()  # no pool: nothing is open between scrapes, but the engine is ours


router = APIRouter(tags=["health"], lifespan=operations)


@router.get(
    "/health",
    summary="Liveness (touches no dependency)",
    responses={
        200: {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["status"],
                        "properties": {"status": {"const": "ok"}, "auth": {"type": "string"}},
                    }
                }
            }
        }
    },
)
async def health(request: Request) -> Response:
    body = {"status": "ok"}
    if request.app.state.settings.auth.value == "off":
        body["auth"] = "off"
    return json_response(body)


@router.get(
    "/health/ready",
    summary="Readiness: the database answers",
    responses={
        200: {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["status", "checks"],
                        "properties": {"status": {"const": "ok"}, "checks": {"type": "object"}},
                    }
                }
            }
        },
        **problem_responses(503),
    },
)
async def ready(request: Request) -> Response:
    timeout = request.app.state.settings.db_timeout_seconds
    try:
        await asyncio.wait_for(request.app.state.db.ping(), timeout=timeout)
    except Exception as exc:
        raise ProblemError(
            Kinds.unavailable, "The database is unreachable.", headers={"Retry-After": "5"}
        ) from exc
    return json_response({"status": "ok", "checks": {"database": "ok"}})


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    body = await metrics_endpoint(request.app).exposition()
    return Response(body, media_type=CONTENT_TYPE)
