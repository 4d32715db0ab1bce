"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs throughput and breaks streaming).

* :class:`ResponseHeadersMiddleware` — security headers, default ``Cache-Control: no-store`` and the
  request's ``RateLimit-*`` headers on every response.
* :class:`RequestGuardMiddleware` — header size, body size (413), JSON content type (415) and JSON nesting
  depth limits, before any handler parses anything.
* :class:`TimeoutMiddleware` — a deadline for the whole request (body upload included): 503
  ``request_timeout`` when the response has not started in time.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import structlog

from foundation.asgi import header_block_size, header_map
from foundation.http.problems import Kinds, ProblemError, ResponseStartTracker, Violation, send_problem

Scope = dict[str, Any]

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
STRICT_CSP = b"default-src 'none'; frame-ancestors 'none'"
# The interactive docs page (foundation.docs_ui) runs Swagger UI from the API's own origin: scripts, styles
# and the OpenAPI document from 'self' only, no inline script; data: images are Swagger UI's inline SVG icons.
DOCS_CSP = (
    b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; "
    b"script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'"
)
DOCS_PATHS = frozenset({"/docs"})


# Everything this middleware adds to every response, per Content-Security-Policy, built once.
_ADDED = {
    csp: (*SECURITY_HEADERS, (b"content-security-policy", csp), (b"cache-control", b"no-store"))
    for csp in (STRICT_CSP, DOCS_CSP)
}
_ADDED_NAMES = frozenset(name for name, _ in _ADDED[STRICT_CSP])
_JSON = b"application/json"
_JSON_UTF8 = b"application/json; charset=utf-8"


class ResponseHeadersMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = _ADDED[DOCS_CSP if scope.get("path") in DOCS_PATHS else STRICT_CSP]

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or ())
                present = set()
                for index, (name, value) in enumerate(headers):
                    lowered = name.lower()
                    present.add(lowered)
                    if lowered == b"content-type" and value == _JSON:
                        # Framework-built JSON (e.g. /openapi.json) gets the charset the contract requires.
                        headers[index] = (name, _JSON_UTF8)
                # What the app set itself wins (e.g. a cacheable response's own Cache-Control).
                if present.isdisjoint(_ADDED_NAMES):
                    headers += added
                else:
                    headers += [item for item in added if item[0] not in present]
                ratelimit = (scope.get("state") or {}).get("ratelimit_headers")
                if ratelimit:
                    for name, value in ratelimit.items():
                        encoded = name.lower().encode("latin-1")
                        if encoded not in present:
                            headers.append((encoded, value.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Cheap scan of bracket nesting outside strings; the JSON parser never sees deeper documents."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # not enough opening brackets to nest that deep (counted in C, not byte by byte)
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


# U+0000 is valid JSON but no database text type stores it (PostgreSQL rejects it outright), so it is refused
# at the door on every backend alike: 400, never a 500 from the driver.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
_NUL_IN_QUERY = re.compile(rb"%00")


def contains_nul_escape(body: bytes) -> bool:
    """True when a JSON string holds ``\\u0000`` (an escaped backslash before ``u0000`` does not count)."""
    if b"\x00" in body:
        return True
    # The regex (a look-behind at every position) only runs on bodies that hold the escape at all.
    return (b"\\u0000" in body or b"\\U0000" in body) and _NUL_ESCAPE.search(body) is not None


def _nul_problem(field: str, where: str) -> ProblemError:
    return ProblemError(
        Kinds.validation,
        f"NUL characters (U+0000) are not accepted in {where}.",
        violations=[Violation(field, "must not contain NUL (U+0000) characters")],
    )


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class RequestGuardMiddleware:
    def __init__(self, app: Any, *, max_body_bytes: int, max_header_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_headers = max_header_bytes
        self.max_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers") or []
        problem = self._check_head(scope, headers)
        if problem is None and scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while problem is None:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            if len(body) > self.max_body:
                problem = self._too_large()
            elif not message.get("more_body", False):
                problem = self._check_body(header_map(headers), bytes(body)) if body else None
                break
        if problem is not None:
            await send_problem(scope, receive, send, problem)
            return
        await self.app(scope, replay_body(bytes(body), receive), send)

    def _check_head(self, scope: Scope, headers: list[tuple[bytes, bytes]]) -> ProblemError | None:
        """Header block size, NUL in the query string, a declared body over the limit."""
        if header_block_size(headers) > self.max_headers:
            return ProblemError(Kinds.headers_too_large, f"Request headers exceed {self.max_headers} bytes.")
        if _NUL_IN_QUERY.search(scope.get("query_string") or b""):
            return _nul_problem("query", "query parameters")
        declared = header_map(headers).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return self._too_large()
        return None

    def _check_body(self, first: dict[bytes, bytes], body: bytes) -> ProblemError | None:
        """A JSON media type, no NUL character, nesting within the limit."""
        if not _is_json(first.get(b"content-type", b"").decode("latin-1")):
            return ProblemError(
                Kinds.unsupported_media_type,
                "The request body must be JSON (Content-Type: application/json).",
                violations=[Violation("Content-Type", "must be application/json")],
            )
        if contains_nul_escape(body):
            return _nul_problem("body", "JSON strings")
        if json_depth_exceeds(body, self.max_depth):
            return ProblemError(
                Kinds.validation,
                f"JSON nesting deeper than {self.max_depth} levels.",
                violations=[Violation("body", f"nesting depth must be at most {self.max_depth}")],
            )
        return None

    def _too_large(self) -> ProblemError:
        return ProblemError(Kinds.payload_too_large, f"The request body exceeds {self.max_body} bytes.")


def replay_body(body: bytes, original_receive: Any) -> Any:
    """Hands the buffered body to the app once, then defers to the server (e.g. for disconnects)."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original_receive()

    return receive


class Deadlines:
    """Cancels request tasks that outlive their deadline, with one timer per event loop.

    ``asyncio.timeout`` schedules and cancels a timer handle per request (~13 µs of a cached read's ~30 µs
    in-process). Here a request costs two dict operations: every deadline is ``timeout`` after its start,
    so insertion order is deadline order, and a tick that runs only while requests are in flight cancels the
    expired ones from the front. A deadline fires up to ``granularity`` late.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.granularity = min(max(timeout / 20, 0.005), 0.5)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._fired: set[asyncio.Task[Any]] = set()
        self._tick: asyncio.TimerHandle | None = None

    def watch(self, task: asyncio.Task[Any]) -> None:
        loop = task.get_loop()
        if loop is not self._loop:  # first use, or the app now runs on another loop (tests)
            self._loop, self._deadlines, self._fired, self._tick = loop, {}, set(), None
        self._deadlines[task] = loop.time() + self.timeout
        if self._tick is None:
            self._tick = loop.call_later(self.granularity, self._expire)

    def unwatch(self, task: asyncio.Task[Any]) -> bool:
        """Stops watching; True when the deadline fired (the task was cancelled for it)."""
        self._deadlines.pop(task, None)
        if task in self._fired:
            self._fired.discard(task)
            return True
        return False

    def _expire(self) -> None:
        assert self._loop is not None  # noqa: S101  # type narrowing, checked by the caller
        now = self._loop.time()
        expired = []
        for task, deadline in self._deadlines.items():
            if deadline > now:
                break
            expired.append(task)
        for task in expired:
            del self._deadlines[task]
            self._fired.add(task)
            task.cancel()
        self._tick = self._loop.call_later(self.granularity, self._expire) if self._deadlines else None


class TimeoutMiddleware:
    """Cancels the request after ``timeout_seconds``; answers 503 ``request_timeout`` if nothing was sent yet.

    A response that already started cannot be replaced: it is cut short (the server closes the connection).
    """

    def __init__(self, app: Any, *, timeout_seconds: float) -> None:
        self.app = app
        self.timeout = timeout_seconds
        self.deadlines = Deadlines(timeout_seconds)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracker = ResponseStartTracker(send)
        task = asyncio.current_task()
        assert task is not None  # noqa: S101  # ASGI servers run each request in a task
        self.deadlines.watch(task)
        try:
            await self.app(scope, receive, tracker)
        except asyncio.CancelledError:
            if not self.deadlines.unwatch(task):
                raise  # cancelled by someone else (server shutdown, client gone): not ours to answer
            task.uncancel()
        except BaseException:
            self._release(task)
            raise
        else:
            self._release(task)
            return
        _log.warning(
            "request_timeout",
            path=scope.get("path"),
            timeout_seconds=self.timeout,
            started=tracker.started,
        )
        if tracker.started:
            return
        problem = ProblemError(
            Kinds.timeout, f"The request did not complete within {self.timeout:g} seconds."
        )
        await send_problem(scope, receive, send, problem)

    def _release(self, task: asyncio.Task[Any]) -> None:
        if self.deadlines.unwatch(task):
            task.uncancel()  # the deadline fired but the app absorbed the cancellation and finished anyway


_log = structlog.get_logger(component="foundation.http")
