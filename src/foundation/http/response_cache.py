"""Answers repeated successful reads from memory, in front of the framework.

The hot reads — a tenant's current theme, its success-metric samples, the stories list — are answered by the
full stack (FastAPI routing, validation, handler) the first time, and their 200 responses are kept in
``Database.read_cache`` under the same kind as the data they were built from: same TTL
(``FOUNDATION_READ_CACHE_SECONDS``), dropped by the same writes. An identical request (same route, tenant and
query string) within the TTL is answered here, with every per-request rule still applied by the same code:
token and scope check, tenant resolution and ``X-Tenant-Id`` match, tenant binding, rate-limit budget and
``RateLimit-*`` headers, ``If-None-Match`` → 304, RED metrics and the access-log line.

Anything that is not a plain success — an unknown or not yet seen tenant, a missing header, a refused token,
an exhausted budget, an oversized header block, any error — goes to the full stack, which answers exactly as
it always does; a budget already charged here is handed over so that no request is charged twice.

Why: routing, dependency resolution and the middleware chain cost several times the work of a cached read
(docs/benchmarks.md has the measurements).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from foundation.auth.scopes import route_scopes
from foundation.db import ReadCache
from foundation.http.etag import if_none_match_matches
from foundation.http.middleware import header_block_size
from foundation.http.ratelimit import SPENT_BUDGET, EndpointClass, RateLimiter, SpentBudget
from foundation.observability import metrics
from foundation.observability.middleware import record_request
from foundation.problems import ProblemError
from foundation.tenancy.service import TenantDirectory, TenantRef

Headers = tuple[tuple[bytes, bytes], ...]

TENANT_HEADER = b"x-tenant-id"
IF_NONE_MATCH = b"if-none-match"
# Per-request headers: never stored, recomputed for every answer.
PER_REQUEST_PREFIX = b"ratelimit-"
# Headers a 304 does not carry (RFC 9110 §15.4.5: no content).
NOT_IN_304 = frozenset({b"content-type", b"content-length"})


@dataclass(frozen=True)
class CacheableRead:
    """A GET route whose 200 responses may be answered from memory."""

    path: str  # the route's path template, e.g. /api/v1/tenants/{tenantId}/themes/current
    kind: str  # the Database.read_cache kind its data lives under (its writers invalidate it)
    endpoint: EndpointClass  # the rate-limit class the route charges
    conditional: bool = False  # the route answers If-None-Match with 304
    default_viewer: str | None = None  # no {tenantId}: optional X-Tenant-Id, else this tenant's view


@dataclass(frozen=True)
class CachedResponse:
    """A kept answer; ``body`` is None when only a 304 was seen (it answers matching conditional requests)."""

    headers: Headers
    not_modified_headers: Headers
    body: bytes | None
    etag: str | None

    @classmethod
    def from_captured(
        cls, status: int, headers: Sequence[tuple[bytes, bytes]], body: bytes
    ) -> CachedResponse:
        kept = tuple(item for item in headers if not item[0].lower().startswith(PER_REQUEST_PREFIX))
        etag = next((value.decode("latin-1") for name, value in kept if name.lower() == b"etag"), None)
        not_modified = tuple(item for item in kept if item[0].lower() not in NOT_IN_304)
        return cls(kept, not_modified, body if status == 200 else None, etag)

    def answers_not_modified(self, if_none_match: bytes | None) -> bool:
        return (
            if_none_match is not None
            and self.etag is not None
            and if_none_match_matches(if_none_match.decode("latin-1"), self.etag)
        )


@dataclass(frozen=True)
class _Route:
    read: CacheableRead
    pattern: re.Pattern[str]
    route: Any  # the framework's route object: its template labels metrics and logs
    scopes: tuple[str, ...]
    hits: Any  # bound counters, looked up once
    stale_hits: Any
    misses: Any


@dataclass(frozen=True)
class _Target:
    route: _Route
    tenant: TenantRef  # whose data (and whose cache group)
    labelled: TenantRef | None  # the tenant the full stack would label the request with
    key: Hashable

    @property
    def cache_key(self) -> tuple[str, Any, Hashable]:
        return (self.route.read.kind, self.tenant.id, self.key)


class ResponseCacheMiddleware:
    def __init__(
        self,
        app: Any,
        *,
        reads: Sequence[CacheableRead],
        routes: Sequence[Any],
        cache: ReadCache,
        tenants: TenantDirectory,
        limiter: RateLimiter,
        authenticator: Any,
        max_header_bytes: int,
        metrics_enabled: bool,
    ) -> None:
        self.app = app
        self.routes = [_compile(read, routes) for read in reads]
        self.cache = cache
        self.tenants = tenants
        self.limiter = limiter
        self.authenticator = authenticator
        self.max_header_bytes = max_header_bytes
        self.metrics_enabled = metrics_enabled
        # Entries being computed by the full stack right now, set when their answer is known.
        self._in_flight: dict[tuple[str, Any, Hashable], asyncio.Event] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not self.cache.enabled:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = _header_map(scope["headers"], self.max_header_bytes)
        target = self._target(scope, headers) if headers is not None else None
        if target is None:
            await self.app(scope, receive, send)
            return
        found = self.cache.lookup(target.route.read.kind, target.tenant.id, target.key)
        filling = self._in_flight.get(target.cache_key) if found is None else None
        if filling is not None:
            # Another request is computing this very answer (cold entry): wait for it rather than
            # sending every concurrent request to the database at once.
            await filling.wait()
            found = self.cache.lookup(target.route.read.kind, target.tenant.id, target.key)
        entry, expired = found if found is not None else (None, False)
        if_none_match = headers.get(IF_NONE_MATCH) if target.route.read.conditional else None  # type: ignore[union-attr]
        not_modified = entry is not None and entry.answers_not_modified(if_none_match)
        usable = entry is not None and (not_modified or entry.body is not None)
        refresh = usable and expired and target.cache_key not in self._in_flight
        if entry is None or not usable or refresh:
            target.route.misses.inc()
            await self._answer_and_keep(scope, receive, send, target, replaces=entry if refresh else None)
            return
        if not await self._admit(scope, receive, target):
            await self.app(scope, receive, send)
            return
        (target.route.stale_hits if expired else target.route.hits).inc()
        status = await self._replay(scope, send, entry, not_modified)  # type: ignore[arg-type]
        record_request(scope, status, time.perf_counter() - started, metrics_enabled=self.metrics_enabled)

    def _target(self, scope: dict[str, Any], headers: dict[bytes, bytes]) -> _Target | None:
        path = scope["path"]
        for route in self.routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            header = headers.get(TENANT_HEADER)
            named = self.tenants.cached(header.decode("latin-1")) if header is not None else None
            if route.read.default_viewer is None:
                owner = self.tenants.cached(match.group("tenant"))
                if owner is None or named is None or named.id != owner.id:
                    return None  # unknown tenant or header problems: the full stack explains
                labelled: TenantRef | None = owner
            else:
                if header is not None and named is None:
                    return None
                owner = named or self.tenants.cached(route.read.default_viewer)
                if owner is None:
                    return None
                labelled = named
            return _Target(route, owner, labelled, (route.read.path, scope.get("query_string", b"")))
        return None

    async def _answer_and_keep(
        self,
        scope: dict[str, Any],
        receive: Any,
        send: Any,
        target: _Target,
        *,
        replaces: CachedResponse | None,
    ) -> None:
        """Full stack; a 200 (or a 304 of a conditional route) is kept for the next identical request, unless
        a write invalidated the kind meanwhile.

        The first request to compute an entry leads: concurrent identical requests wait for it when there is
        no entry yet, or are served ``replaces`` — the expired entry it refreshes — meanwhile. An answer that
        cannot be kept drops the expired entry.
        """
        leader = target.cache_key not in self._in_flight
        if leader:
            self._in_flight[target.cache_key] = asyncio.Event()
        generation = self.cache.generation(target.route.read.kind)
        status = 0
        response_headers: list[tuple[bytes, bytes]] = []
        body = bytearray()
        complete = False

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status, response_headers, complete
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = list(message.get("headers") or [])
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        try:
            await self.app(scope, receive, capture)
            self._keep(target, replaces, status if complete else 0, response_headers, bytes(body), generation)
        finally:
            if leader:
                self._in_flight.pop(target.cache_key).set()

    def _keep(
        self,
        target: _Target,
        replaces: CachedResponse | None,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        generation: int,
    ) -> None:
        """Store a complete 200 (or a conditional route's 304); status 0 means the answer was cut short."""
        kind = target.route.read.kind
        if not (status == 200 or (status == 304 and target.route.read.conditional)):
            if replaces is not None:
                self.cache.discard(kind, target.tenant.id, target.key)
            return
        entry = CachedResponse.from_captured(status, headers, body)
        if (
            entry.body is None
            and replaces is not None
            and replaces.body is not None
            and replaces.etag == entry.etag
        ):
            entry = replaces  # a 304 confirmed the expired entry: keep its body
        self.cache.put(kind, target.tenant.id, target.key, entry, generation=generation)

    async def _admit(self, scope: dict[str, Any], receive: Any, target: _Target) -> bool:
        """The per-request rules; False hands the request to the full stack (with any budget spent)."""
        request = Request(scope, receive)
        try:
            await self.authenticator.authorize(request, target.route.scopes)
            await self.authenticator.check_tenant(request, target.tenant)
        except ProblemError:
            return False
        state = scope.setdefault("state", {})
        decision = None
        if self.limiter.enabled:
            endpoint = target.route.read.endpoint
            try:
                decision = await self.limiter.hit(target.tenant.key, endpoint)
            except ProblemError:
                return False  # store down and failing closed: the full stack answers 503
            if decision is not None and not decision.allowed:
                state[SPENT_BUDGET] = SpentBudget(target.tenant.key, endpoint, decision)
                return False
        if decision is not None:
            state["ratelimit_headers"] = decision.headers()
        if target.labelled is not None:
            state["tenant"] = target.labelled
        scope["route"] = target.route.route
        return True

    async def _replay(
        self, scope: dict[str, Any], send: Any, entry: CachedResponse, not_modified: bool
    ) -> int:
        headers = list(entry.not_modified_headers if not_modified else entry.headers)
        for name, value in (scope["state"].get("ratelimit_headers") or {}).items():
            headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        status = 304 if not_modified else 200
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if not_modified else entry.body})
        return status


def _header_map(raw: Sequence[tuple[bytes, bytes]], limit: int) -> dict[bytes, bytes] | None:
    """Lower-case header names → value; None when the block is over the limit (the guard answers 431)."""
    if header_block_size(raw) > limit:
        return None
    headers: dict[bytes, bytes] = {}
    for name, value in raw:
        headers.setdefault(name.lower(), value)  # the first of repeated headers, as the framework reads them
    return headers


def _compile(read: CacheableRead, routes: Sequence[Any]) -> _Route:
    route = next(
        (r for r in routes if getattr(r, "path", None) == read.path and "GET" in getattr(r, "methods", ())),
        None,
    )
    if route is None:
        raise LookupError(f"no GET route {read.path} to cache")
    pattern = re.escape(read.path).replace(re.escape("{tenantId}"), "(?P<tenant>[^/]+)")
    scopes = route_scopes([dependency.call for dependency in route.dependant.dependencies])
    return _Route(
        read,
        re.compile(pattern),
        route,
        scopes,
        metrics.response_cache.labels(read.path, "hit"),
        metrics.response_cache.labels(read.path, "stale"),
        metrics.response_cache.labels(read.path, "miss"),
    )
