"""Liveness, readiness and the Prometheus scrape endpoint."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from foundation import db_role
from foundation.db import Database
from foundation.http.openapi import problem_responses
from foundation.http.problem_kinds import Kinds, ProblemError
from foundation.http.provide import provide
from foundation.http.responses import json_response
from foundation.observability.metrics import CONTENT_TYPE
from foundation.observability.scrape import MetricsEndpoint
from foundation.settings import Profile, Settings

router = APIRouter(tags=["health"])
SettingsDep = Annotated[Settings, Depends(provide(Settings))]
DatabaseDep = Annotated[Database, Depends(provide(Database))]
MetricsDep = Annotated[MetricsEndpoint, Depends(provide(MetricsEndpoint))]


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
async def health(settings: SettingsDep) -> Response:
    body = {"status": "ok"}
    if settings.auth.value == "off":
        body["auth"] = "off"
    return json_response(body)


@router.get(
    "/health/ready",
    summary="Readiness: the database answers (and, on PostgreSQL, the API's role cannot bypass RLS)",
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
async def ready(settings: SettingsDep, db: DatabaseDep) -> Response:
    timeout = settings.db_timeout_seconds
    try:
        await asyncio.wait_for(db.ping(), timeout=timeout)
        # On PostgreSQL: is the API's role unable to bypass row-level security? (foundation.db_role)
        role = await asyncio.wait_for(db_role.inspect_role(db.engine), timeout=timeout)
    except Exception as exc:
        raise ProblemError(
            Kinds.unavailable, "The database is unreachable.", headers={"Retry-After": "5"}
        ) from exc
    if role is not None and not role.safe and settings.profile is Profile.production:
        # The start-up check refuses this role; a server whose start-up could not check it (the database was
        # unreachable then) must not be sent traffic either.
        raise ProblemError(Kinds.unavailable, f"Refused by the production profile: {role.message()}.")
    checks = {"database": "ok"}
    role_check = db_role.readiness_value(role)
    if role_check is not None:
        checks[db_role.CHECK_NAME] = role_check
    return json_response({"status": "ok", "checks": checks})


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(endpoint: MetricsDep) -> Response:
    # Parts fail on their own (counted in foundation_metrics_scrape_errors_total): never a 5xx for a scrape.
    return Response(await endpoint.exposition(), media_type=CONTENT_TYPE)
