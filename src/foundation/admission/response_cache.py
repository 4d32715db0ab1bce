"""Answers repeated reads of cacheable endpoints from memory, in front of the framework's routing.

For a GET of an endpoint declared with ``cache=<kind>``, the request is admitted first by the admission
pipeline — the same checks and budget as the route: a refused request goes on to the framework, where the
route's admission dependency finds the remembered refusal and answers it exactly as always. An admitted
request is answered from ``http.read_cache`` when a fresh answer of the same endpoint, tenant and query
string is kept (``If-None-Match`` answered with 304 against its ETag); otherwise the framework answers and
a 200 (or a conditional endpoint's 304) is kept for the next identical request.

It sits innermost in the middleware stack, so security headers, ``RateLimit-*``, RED metrics and the access
log see every answer the same way whether it came from here or from the route. When an entry is due for
refresh, one request recomputes it while concurrent identical ones are still served the entry; when there
is no entry, concurrent identical requests wait for the first one's answer instead of all reading the
database at once. ``foundation_response_cache_total{route,result}`` counts hit / refresh / miss.

Why: routing, dependency resolution and the handler cost several times a kept answer (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from starlette.requests import Request

from foundation.admission.pipeline import AdmissionPipeline
from foundation.admission.routing import DeclaredRoute
from foundation.asgi import header_text
from foundation.http.etag import if_none_match_matches
from foundation.http.problem_kinds import ProblemError
from foundation.http.read_cache import ReadCache, Ticket
from foundation.observability import metrics

Headers = tuple[tuple[bytes, bytes], ...]
# Headers a 304 does not carry (RFC 9110 §15.4.5: no content).
NOT_IN_304 = frozenset({b"content-type", b"content-length"})


@dataclass(frozen=True)
class KeptAnswer:
    """A kept answer; ``body`` is None when only a 304 was seen (it answers matching conditional requests)."""

    headers: Headers
    not_modified_headers: Headers
    body: bytes | None
    etag: str | None

    @classmethod
    def of(cls, status: int, headers: Sequence[tuple[bytes, bytes]], body: bytes) -> KeptAnswer:
        kept = tuple(headers)
        etag = next((value.decode("latin-1") for name, value in kept if name.lower() == b"etag"), None)
        not_modified = tuple(item for item in kept if item[0].lower() not in NOT_IN_304)
        return cls(kept, not_modified, body if status == 200 else None, etag)

    def not_modified_for(self, if_none_match: str | None) -> bool:
        return (
            if_none_match is not None
            and self.etag is not None
            and if_none_match_matches(if_none_match, self.etag)
        )


class _Target(NamedTuple):  # what an answer computed by the framework is kept under
    route: DeclaredRoute
    tenant: Hashable
    variant: Hashable
    key: tuple[str, Hashable, Hashable]  # (cache kind, tenant, variant): the in-flight table's key


class ResponseCacheMiddleware:
    def __init__(
        self, app: Any, *, routes: Sequence[DeclaredRoute], pipeline: AdmissionPipeline, cache: ReadCache
    ) -> None:
        self.app = app
        self.routes = [route for route in routes if route.declaration.cache is not None]
        self.pipeline = pipeline
        self.cache = cache
        self.counters = {
            route.path: {result: metrics.response_cache.labels(route.path, result) for result in RESULTS}
            for route in self.routes
        }
        # Answers being computed by the framework right now, set when they are known.
        self._in_flight: dict[tuple[str, Hashable, Hashable], asyncio.Event] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        route = self._cacheable_route(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        try:
            admission = await self.pipeline.admit(Request(scope, receive), route.declaration)
        except ProblemError:
            await self.app(scope, receive, send)  # the route answers the remembered refusal
            return
        tenant = admission.tenant.id if admission.tenant is not None else None
        variant = (route.path, scope.get("query_string", b""))
        kind = route.declaration.cache or ""
        key = (kind, tenant, variant)
        found = self.cache.lookup(kind, tenant, variant)
        if found is None and (filling := self._in_flight.get(key)) is not None:
            await filling.wait()  # the first identical request is computing it: share its answer
            found = self.cache.lookup(kind, tenant, variant)
        counters = self.counters[route.path]
        if found is not None:
            entry, refresh_due = found
            if_none_match = header_text(scope, b"if-none-match") if route.declaration.conditional else None
            not_modified = entry.not_modified_for(if_none_match)
            if (not_modified or entry.body is not None) and not (refresh_due and key not in self._in_flight):
                counters["hit"].inc()
                # The kept tuple itself (immutable): the envelope completes its headers once per kept answer.
                if not_modified:
                    await send(
                        {"type": "http.response.start", "status": 304, "headers": entry.not_modified_headers}
                    )
                    await send({"type": "http.response.body", "body": b""})
                else:
                    await send({"type": "http.response.start", "status": 200, "headers": entry.headers})
                    await send({"type": "http.response.body", "body": entry.body})
                return
            counters["refresh" if not_modified or entry.body is not None else "miss"].inc()
        else:
            counters["miss"].inc()
        await self._answer_and_keep(scope, receive, send, _Target(route, tenant, variant, key))

    def _cacheable_route(self, scope: dict[str, Any]) -> DeclaredRoute | None:
        """The cacheable route a GET is for (set on the scope as the router would: it labels metrics and
        logs), or None."""
        if scope["type"] != "http" or scope["method"] != "GET" or not self.cache.enabled:
            return None
        for route in self.routes:
            match = route.path_regex.match(scope["path"])
            if match is not None:
                scope["route"] = route
                scope["path_params"] = match.groupdict()
                return route
        return None

    async def _answer_and_keep(self, scope: dict[str, Any], receive: Any, send: Any, target: _Target) -> None:
        """The framework answers; a complete 200 (or a conditional endpoint's 304) is kept, unless a write
        invalidated the kind meanwhile. Only the first of concurrent identical requests keeps its answer."""
        leader = target.key not in self._in_flight
        if leader:
            self._in_flight[target.key] = asyncio.Event()
        ticket = self.cache.begin(target.key[0])
        captured = _Capture(send)
        try:
            await self.app(scope, receive, captured)
            if leader:
                self._keep(target, captured, ticket)
        finally:
            if leader:
                self._in_flight.pop(target.key).set()

    def _keep(self, target: _Target, captured: _Capture, ticket: Ticket) -> None:
        conditional = target.route.declaration.conditional
        if not captured.complete or not (captured.status == 200 or (captured.status == 304 and conditional)):
            self.cache.discard(target.key[0], target.tenant, target.variant)
            return
        entry = KeptAnswer.of(captured.status, captured.headers, bytes(captured.body))
        if entry.body is None:
            found = self.cache.lookup(target.key[0], target.tenant, target.variant)
            previous = found[0] if found is not None else None
            if previous is not None and previous.body is not None and previous.etag == entry.etag:
                entry = previous  # a 304 confirmed the kept answer: keep its body
        self.cache.put(target.tenant, target.variant, entry, ticket)


RESULTS = ("hit", "refresh", "miss")


class _Capture:
    """Passes the framework's answer on while recording it."""

    def __init__(self, send: Any) -> None:
        self.send = send
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.complete = False

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers") or [])
        elif message["type"] == "http.response.body":
            self.body.extend(message.get("body", b""))
            self.complete = not message.get("more_body", False)
        await self.send(message)
