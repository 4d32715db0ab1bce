"""The admission pipeline: every per-request rule of a declared endpoint, in the contract's order.

1. scopes — the caller's token has one of the endpoint's scopes (401 / 403);
2. tenant — ``{tenantId}`` exists (404) and ``X-Tenant-Id`` names it (400), or the optional header's tenant;
3. binding — the token may act on that tenant (403), and on every tenant the body names;
4. budget — one unit of the tenant's rate-limit class (429 with ``Retry-After``); requests refused before the
   tenant is known spend nothing, every later outcome does;
5. ``Idempotency-Key`` — present and well-formed where the endpoint needs one (400);
6. query parameters and body — the endpoint's models (400 ``invalid_pagination`` / ``invalid_request`` with
   field paths).

The FastAPI route (through one dependency), the response cache and the direct dispatcher all call
:meth:`AdmissionPipeline.admit`. Its outcome is remembered on the request, so a request that a shortcut
admitted and then handed to the framework is neither checked nor charged twice.
"""

from __future__ import annotations

import enum
import json
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from foundation.admission.endpoints import BodyTenants, Endpoint, TenantSource
from foundation.asgi import header_text
from foundation.auth.scopes import Authenticator
from foundation.http.idempotency import is_valid_key
from foundation.http.problem_kinds import Kinds, ProblemError, Violation, validation_problem
from foundation.http.ratelimit import Decision, EndpointClass, RateLimiter
from foundation.http.response_headers import RATELIMIT_STATE
from foundation.observability import metrics
from foundation.tenancy.service import DEFAULT_TENANT_SLUG, TenantDirectory, TenantRef

TENANT_HEADER = "X-Tenant-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MEMO = "admission"  # request-state key of (endpoint, Admission | ProblemError)
PLATFORM_BUDGET = "platform"  # budget key of platform-wide writes (no tenant)


class Admission(NamedTuple):
    """What the pipeline established about an admitted request. Immutable; a named tuple rather than a
    frozen dataclass because one is built per request and a frozen dataclass's ``__init__`` costs three
    times as much (docs/benchmarks.md, "Cached reads, the last microseconds")."""

    endpoint: Endpoint
    tenant: TenantRef | None  # whose data the operation reads or writes (None: platform-wide)
    named: TenantRef | None  # the tenant the request named (path or X-Tenant-Id), None if none
    key: str | None = None  # Idempotency-Key
    body: Any = None  # the validated body model
    query: Any = None  # the validated query model

    @property
    def idempotency_key(self) -> str:
        if self.key is None:
            raise RuntimeError(f"{self.endpoint.name} is not declared idempotent")
        return self.key

    @property
    def subject(self) -> TenantRef:
        """The tenant, for operations that always have one (path tenants, tenant views)."""
        if self.tenant is None:
            raise RuntimeError(f"{self.endpoint.name} was admitted without a tenant")
        return self.tenant


class _Lookup(enum.Enum):
    needed = "needed"


LOOKUP = _Lookup.needed  # the request names a tenant that must be looked up (or refused)


class AdmissionPipeline:
    def __init__(self, tenants: TenantDirectory, authenticator: Authenticator, limiter: RateLimiter) -> None:
        self.tenants = tenants
        self.authenticator = authenticator
        self.limiter = limiter

    async def admit(self, request: Request, endpoint: Endpoint) -> Admission:
        state = request.scope.setdefault("state", {})
        memo = state.get(MEMO)
        if memo is not None and memo[0] is endpoint:
            if isinstance(memo[1], ProblemError):
                raise memo[1]
            return memo[1]  # type: ignore[no-any-return]
        # The steps in one frame: each awaited helper is a coroutine object per request, a measurable share
        # of a cached read (docs/benchmarks.md), so the usual request awaits only what may block.
        try:
            if self.authenticator.enforces:
                await self.authenticator.authorize(request, endpoint.scopes)
            named = self._named_known_tenant(request, endpoint)
            if named is LOOKUP:
                named = await self._named_tenant(request, endpoint)
            binds = self.authenticator.binds_tenants  # else check_tenant refuses nothing
            if named is not None or endpoint.tenant is TenantSource.path:
                if binds:
                    await self.authenticator.check_tenant(request, named)
                state["tenant"] = named  # labels the request's metrics and logs from here on
            tenant = named
            if named is None and endpoint.tenant is TenantSource.header_or_default:
                tenant = await self._default_tenant()
                if binds:
                    await self.authenticator.check_tenant(request, tenant)
            if endpoint.body_tenants is not None and binds:
                await self._check_body_tenants(request, endpoint.body_tenants)
            if self.limiter.enabled:
                budget_key = tenant.key if tenant else PLATFORM_BUDGET
                decision = (
                    self.limiter.hit_in_process(budget_key, endpoint.budget)
                    if self.limiter.counters is not None  # in-process counters: nothing to await
                    else await self.limiter.hit(budget_key, endpoint.budget)
                )
                self._charge(state, decision, endpoint.budget, tenant)
            key = self._idempotency_key(request) if endpoint.idempotent else None
            query = parse_query(endpoint.query, request) if endpoint.query is not None else None
            body = parse_body(endpoint.body, await request.body()) if endpoint.body is not None else None
        except ProblemError as problem:
            state[MEMO] = (endpoint, problem)
            raise
        admission = Admission(endpoint, tenant, named, key, body, query)
        state[MEMO] = (endpoint, admission)
        return admission

    def _named_known_tenant(self, request: Request, endpoint: Endpoint) -> TenantRef | _Lookup | None:
        """What :meth:`_named_tenant` answers when that needs no lookup — the usual request: a tenant this
        process knows, named the same way by the path and ``X-Tenant-Id`` — else ``LOOKUP``."""
        header = header_text(request.scope, b"x-tenant-id")
        if header is None:
            return None if endpoint.tenant is not TenantSource.path else LOOKUP
        if endpoint.tenant is TenantSource.path and header != request.path_params["tenantId"]:
            return LOOKUP
        return self.tenants.cached(header) or LOOKUP

    async def _named_tenant(self, request: Request, endpoint: Endpoint) -> TenantRef | None:
        header = header_text(request.scope, b"x-tenant-id")
        if endpoint.tenant is not TenantSource.path:
            if header is None:
                return None
            return await self._existing(header)
        path_param = request.path_params["tenantId"]
        path_tenant = await self._existing(path_param)
        if header is None:
            raise ProblemError(Kinds.tenant_header, f"The {TENANT_HEADER} header is required.")
        header_tenant = path_tenant if header == path_param else await self.tenants.find(header)
        if header_tenant is None or header_tenant.id != path_tenant.id:
            raise ProblemError(
                Kinds.tenant_header, f"The {TENANT_HEADER} header does not name the path's tenant."
            )
        return path_tenant

    async def _existing(self, identifier: str) -> TenantRef:
        tenant = await self.tenants.find(identifier)
        if tenant is None:
            raise ProblemError(Kinds.tenant_not_found, f"Tenant {identifier!r} does not exist.")
        return tenant

    async def _default_tenant(self) -> TenantRef:
        tenant = await self.tenants.find(DEFAULT_TENANT_SLUG)
        if tenant is None:
            raise ProblemError(
                Kinds.tenant_not_found, "The default tenant is not provisioned (run `foundation seed`)."
            )
        return tenant

    async def _check_body_tenants(self, request: Request, named_in: BodyTenants) -> None:
        """The token may act on every tenant the body names. Reads the JSON leniently: a malformed body is
        the body validation's to report (400). Only called when the authenticator binds tokens to tenants."""
        try:
            payload = json.loads(await request.body())
        except ValueError:
            return
        identifiers = set(named_in(payload))
        for identifier in sorted(identifiers, key=lambda value: value or ""):
            owner = await self.tenants.find(identifier) if identifier is not None else None
            if identifier is None or owner is not None:  # unknown tenants: the service answers them
                await self.authenticator.check_tenant(request, owner)

    @staticmethod
    def _charge(
        state: dict[str, Any], decision: Decision | None, budget: EndpointClass, tenant: TenantRef | None
    ) -> None:
        """The spent unit's ``RateLimit-*`` headers for every answer, or the 429 when the budget is gone."""
        if decision is None:
            return  # the store failed and the policy is fail-open
        state[RATELIMIT_STATE] = decision.encoded_headers()
        if not decision.allowed:
            headers = decision.headers()
            metrics.rate_limited.labels(tenant.slug if tenant else "none", budget.value).inc()
            raise ProblemError(
                Kinds.rate_limit,
                f"Rate limit of {decision.limit} requests per minute exceeded for {budget.value}.",
                headers={**headers, "Retry-After": str(max(1, decision.reset_seconds))},
            )

    @staticmethod
    def _idempotency_key(request: Request) -> str:
        key = header_text(request.scope, b"idempotency-key")
        if key is None:
            raise ProblemError(
                Kinds.idempotency_key_required,
                f"The {IDEMPOTENCY_HEADER} header is required.",
                violations=[Violation(IDEMPOTENCY_HEADER, "header is required")],
            )
        if not is_valid_key(key):
            raise ProblemError(
                Kinds.idempotency_key_invalid,
                f"The {IDEMPOTENCY_HEADER} header must be 1..255 visible ASCII characters.",
                violations=[Violation(IDEMPOTENCY_HEADER, "must be 1..255 visible ASCII characters")],
            )
        return key


# Validated query models by (model, raw query string): the same string always validates to the same
# (immutable) model, and most reads repeat a handful of strings, the empty one first. Bounded: cleared
# when full. Refusals are not kept (they are rare and carry the request's details).
_VALID_QUERIES: dict[tuple[type[BaseModel], bytes], BaseModel] = {}
VALID_QUERIES_KEPT = 4096


def parse_query(model: type[BaseModel], request: Request) -> BaseModel:
    """The query parameters as ``model`` (a repeated parameter: the last value, as Starlette reads it)."""
    memo_key = (model, request.scope.get("query_string", b""))
    valid = _VALID_QUERIES.get(memo_key)
    if valid is not None:
        return valid
    try:
        valid = model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        errors = [{**error, "loc": ("query", *error["loc"])} for error in exc.errors(include_url=False)]
        raise validation_problem(errors) from None
    if len(_VALID_QUERIES) >= VALID_QUERIES_KEPT:
        _VALID_QUERIES.clear()
    _VALID_QUERIES[memo_key] = valid
    return valid


def parse_body(model: type[BaseModel], raw: bytes) -> BaseModel:
    """The body as ``model``; undecodable bytes, invalid JSON and schema violations are all 400
    ``invalid_request`` with field paths."""
    if not raw.strip():
        raise ProblemError(
            Kinds.validation,
            "A JSON request body is required.",
            violations=[Violation("body", "a JSON object is required")],
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        raise validation_problem(errors) from None
