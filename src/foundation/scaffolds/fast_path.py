"""Scaffold registrations answered without the framework's routing and dependency resolution.

A scaffold POST is mostly framework work: routing, resolving five dependencies, reading and validating the
body, building the response (docs/benchmarks.md). This middleware sits innermost in the app's own stack —
inside the request guard (sizes, JSON type, depth, NUL), the timeout, the response headers, the telemetry and
the catch-all for errors — and registers plain successful requests itself, with the same code the route
uses: tenant resolution and ``X-Tenant-Id`` match, token and scope check, tenant binding, the rate-limit
budget, ``Idempotency-Key`` rules, body validation with the route's model, the registration queue, and the
route's 201 / 200-replay answer.

Everything else is handed to the full stack, body included, which answers exactly as it always does: a tenant
this process has not resolved yet, a missing or mismatched header, a refused token, an exhausted budget, an
invalid key or body, ``If-None-Match``, and any registration the queue answers with a Problem (409, 422: the
full stack classifies it again and gets the same answer). A budget already spent here is handed over, so no
request is charged twice; the outcome counter is incremented once, by whichever path answered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request

from foundation.auth.scopes import route_scopes
from foundation.http.idempotency import is_valid_key
from foundation.http.middleware import replay_body
from foundation.http.ratelimit import SPENT_BUDGET, EndpointClass, RateLimiter, SpentBudget
from foundation.http.responses import JsonResponse
from foundation.observability import metrics
from foundation.problems import ProblemError
from foundation.scaffolds import service
from foundation.scaffolds.batching import RegistrationQueue
from foundation.scaffolds.router import count_outcome
from foundation.scaffolds.schemas import ScaffoldRequest
from foundation.tenancy.service import TenantDirectory, TenantRef

ROUTE_PATH = "/api/v1/tenants/{tenantId}/features/scaffold"
_PATH = re.compile(r"/api/v1/tenants/(?P<tenant>[^/]+)/features/scaffold")
# Headers the fast path reads; the first occurrence counts, as the framework reads them.
_WANTED = (b"x-tenant-id", b"idempotency-key", b"if-none-match")


class ScaffoldFastPath:
    def __init__(
        self,
        app: Any,
        *,
        routes: Sequence[Any],
        tenants: TenantDirectory,
        limiter: RateLimiter,
        authenticator: Any,
        registrations: RegistrationQueue,
    ) -> None:
        self.app = app
        self.route = next(
            r
            for r in routes
            if getattr(r, "path", None) == ROUTE_PATH and "POST" in getattr(r, "methods", ())
        )
        self.scopes = route_scopes([dependency.call for dependency in self.route.dependant.dependencies])
        self.tenants = tenants
        self.limiter = limiter
        self.authenticator = authenticator
        self.registrations = registrations
        self.answered = metrics.scaffold_fast_path.labels("answered")
        self.handed_over = metrics.scaffold_fast_path.labels("handed_over")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        match = (
            _PATH.fullmatch(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        )
        if match is None:
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        tenant = self.tenants.cached(match.group("tenant"))
        named = headers.get(b"x-tenant-id")
        key = headers.get(b"idempotency-key")
        if (
            tenant is None
            or named is None
            or key is None
            or b"if-none-match" in headers
            or getattr(self.tenants.cached(named), "id", None) != tenant.id
            or not is_valid_key(key)
            or not await self._admit(scope, receive, tenant)
        ):
            self.handed_over.inc()
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        registration = await self._register(tenant, key, body)
        if registration is None:
            self.handed_over.inc()
            await self.app(scope, replay_body(body, receive), send)
            return
        response_headers = {
            "ETag": registration.etag,
            "Location": registration.location,
            "Idempotency-Key": key,
        }
        status = 201
        if registration.outcome is not service.Outcome.created:
            response_headers["Idempotent-Replayed"] = "true"
            status = 200
        response = JsonResponse(registration.representation, status_code=status, headers=response_headers)
        count_outcome(tenant, status)
        self.answered.inc()
        await response(scope, receive, send)

    async def _admit(self, scope: dict[str, Any], receive: Any, tenant: TenantRef) -> bool:
        """Token, binding and budget, in the route's order; False hands the request on (budget spent kept)."""
        request = Request(scope, receive)
        try:
            await self.authenticator.authorize(request, self.scopes)
            await self.authenticator.check_tenant(request, tenant)
        except ProblemError:
            return False
        state = scope.setdefault("state", {})
        state["tenant"] = tenant
        scope["route"] = self.route
        if not self.limiter.enabled:
            return True
        try:
            decision = await self.limiter.hit(tenant.key, EndpointClass.scaffold)
        except ProblemError:
            return False  # store down and failing closed: the full stack answers 503
        state[SPENT_BUDGET] = SpentBudget(tenant.key, EndpointClass.scaffold, decision)
        if decision is None:
            return True
        state["ratelimit_headers"] = decision.headers()
        return decision.allowed

    async def _register(self, tenant: TenantRef, key: str, body: bytes) -> service.Registration | None:
        """The registration, or None when the full stack must answer (invalid body, Problem outcome)."""
        try:
            request = ScaffoldRequest.model_validate(json.loads(body))
        except (ValueError, ValidationError):  # JSONDecodeError is a ValueError
            return None
        try:
            return await self.registrations.register(tenant, service.Attempt.of(key, request))
        except ProblemError:
            return None


def _headers(scope: dict[str, Any]) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        lowered = name.lower()
        if lowered in _WANTED and lowered not in found:
            found[lowered] = value.decode("latin-1")
    return found


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
