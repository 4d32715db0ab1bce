"""The request envelope: the one pure-ASGI layer every HTTP request and every answer pass through.

In this order, each for a reason:

1. telemetry: the clock starts, and when the request ends, whichever step below answered it, its RED
   metrics and access-log line are recorded (``observability.middleware.record_request``); scrape and probe
   paths run with instrumentation suppressed (their database calls would otherwise be orphan root spans);
2. the deadline starts (``deadlines.Deadlines``): it covers the whole request, body upload included, and a
   request still unanswered when it passes gets 503 ``request_timeout``; one already answering is cut short;
3. the request guard (``request_guard.RequestGuard``) refuses oversized headers and bodies, non-JSON bodies,
   NUL characters and deep JSON before anything parses the request;
4. the app runs; any exception it raises becomes a Problem here, inside the user middleware stack (Starlette's
   own catch-all sits outside it), so telemetry records and logs it like any other answer;
5. every answer, Problems included, leaves with ``response_headers.completed``: security headers, the
   ``Cache-Control`` default and the request's ``RateLimit-*``.

One layer rather than five: each was a coroutine frame and a ``send`` wrapper on every request, a measurable
share of a cached read (docs/benchmarks.md, bench/stack_inprocess.py). No BaseHTTPMiddleware: it costs
throughput and breaks streaming.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from opentelemetry.instrumentation.utils import suppress_instrumentation

from foundation.http.deadlines import Deadlines
from foundation.http.problem_kinds import Kinds, ProblemError
from foundation.http.problems import send_problem, unhandled_problem
from foundation.http.request_guard import BODY_METHODS, RequestGuard, replay_body
from foundation.http.response_headers import completed
from foundation.observability.middleware import QUIET_PATHS, record_request

Scope = dict[str, Any]
_log = structlog.get_logger(component="foundation.http")


class _Answer:
    """The app's ``send``: completes the headers of the response start and remembers its status (an error
    after the start can no longer be answered with a Problem: the status line is already out)."""

    __slots__ = ("scope", "send", "status")

    def __init__(self, scope: Scope, send: Any) -> None:
        self.scope = scope
        self.send = send
        self.status = 0  # not started

    @property
    def started(self) -> bool:
        return self.status != 0

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message = {**message, "headers": completed(self.scope, message.get("headers"))}
        await self.send(message)


class RequestEnvelope:
    def __init__(
        self, app: Any, *, timeout_seconds: float, guard: RequestGuard, metrics_enabled: bool = True
    ) -> None:
        self.app = app
        self.timeout = timeout_seconds
        self.deadlines = Deadlines(timeout_seconds)
        self.guard = guard
        self.metrics_enabled = metrics_enabled

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answer = _Answer(scope, send)
        try:
            if scope.get("path") in QUIET_PATHS:
                with suppress_instrumentation():
                    await self._answer(scope, receive, answer)
            else:
                await self._answer(scope, receive, answer)
        finally:
            # A request that never started its answer (cancelled, or an error after which nothing could be
            # sent) counts as the 500 the server answers for it.
            status = answer.status or 500
            record_request(scope, status, time.perf_counter() - started, metrics_enabled=self.metrics_enabled)

    async def _answer(self, scope: Scope, receive: Any, answer: _Answer) -> None:
        """Steps 2 to 5."""
        task = asyncio.current_task()
        assert task is not None  # noqa: S101  # ASGI servers run each request in a task
        self.deadlines.watch(task)
        # Steps 3 to 5 in this one frame, not in awaited helpers: a coroutine per request is a measurable
        # share of a cached read (docs/benchmarks.md).
        try:
            try:
                problem = self.guard.check_head(scope)
                gone = False
                if problem is None and scope["method"] in BODY_METHODS:
                    body, problem = await self.guard.read_body(scope, receive)
                    gone = body is None and problem is None  # the client went away before its body arrived
                    if body is not None:
                        receive = replay_body(body, receive)
                if problem is not None:
                    await send_problem(scope, receive, answer, problem)
                elif not gone:
                    await self.app(scope, receive, answer)
            except Exception as exc:  # an exception becomes a Problem while nothing was sent
                if answer.started:
                    raise
                await send_problem(scope, receive, answer, unhandled_problem(exc))
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
            "request_timeout", path=scope.get("path"), timeout_seconds=self.timeout, started=answer.started
        )
        if not answer.started:
            problem = ProblemError(
                Kinds.timeout, f"The request did not complete within {self.timeout:g} seconds."
            )
            await send_problem(scope, receive, answer, problem)

    def _release(self, task: asyncio.Task[Any]) -> None:
        if self.deadlines.unwatch(task):
            task.uncancel()  # the deadline fired but the app absorbed the cancellation and finished anyway
