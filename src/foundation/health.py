"""Liveness, readiness and the Prometheus scrape endpoint."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from foundation import db_role
from foundation.db import Database
from foundation.http.openapi import problem_responses
from foundation.http.problem_kinds import Kinds, ProblemError
from foundation.http.provide import provide, service
from foundation.http.responses import json_response
from foundation.observability.metrics import CONTENT_TYPE
from foundation.observability.scrape import MetricsEndpoint
from foundation.settings import Profile, Settings

# The answer depends on Accept-Encoding: caches in between must keep the two apart.
VARY = {"Vary": "Accept-Encoding"}
GZIPPED = {"Content-Encoding": "gzip", **VARY}

router = APIRouter(tags=["health"])
SettingsDep = Annotated[Settings, Depends(provide(Settings))]
DatabaseDep = Annotated[Database, Depends(provide(Database))]


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


async def prometheus_metrics(request: Request) -> Response:
    # Parts fail on their own (counted in foundation_metrics_scrape_errors_total): never a 5xx for a scrape.
    exposition = await service(request, MetricsEndpoint).exposition()
    if "gzip" in request.headers.get("accept-encoding", ""):  # Starlette's GZipMiddleware rule
        return Response(exposition.gzipped, media_type=CONTENT_TYPE, headers=GZIPPED)
    return Response(exposition.plain, media_type=CONTENT_TYPE, headers=VARY)


class _SelfNamingRoute(Route):
    """A Starlette route that puts itself in the scope, as FastAPI's routes do: the request metrics and the
    access log label a request by its route's template."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self
        await super().handle(scope, receive, send)


# A plain Starlette route, which create_app puts first in the app's own table: nothing for FastAPI to resolve
# or validate, matched before the API's routes. FastAPI's routing and dependency resolution were half of a
# scrape's CPU (docs/benchmarks.md, "/metrics compressed").
metrics_route = _SelfNamingRoute("/metrics", prometheus_metrics, methods=["GET"], include_in_schema=False)
