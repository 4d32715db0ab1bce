"""The request envelope: the one pure-ASGI layer every HTTP request and every answer pass through.

In this order, each for a reason:

1. the deadline starts (``deadlines.Deadlines``): it covers the whole request, body upload included, and a
   request still unanswered when it passes gets 503 ``request_timeout``; one already answering is cut short;
2. the request guard (``request_guard.RequestGuard``) refuses oversized headers and bodies, non-JSON bodies,
   NUL characters and deep JSON before anything parses the request;
3. the app runs; any exception it raises becomes a Problem here, inside the user middleware stack (Starlette's
   own catch-all sits outside it), so telemetry records and logs it like any other answer;
4. every answer, Problems included, leaves with ``response_headers.completed``: security headers, the
   ``Cache-Control`` default and the request's ``RateLimit-*``.

One layer rather than four: each was a coroutine frame and a ``send`` wrapper on every request, a measurable
share of a cached read (docs/benchmarks.md, bench/stack_inprocess.py). No BaseHTTPMiddleware: it costs
throughput and breaks streaming.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from foundation.http.deadlines import Deadlines
from foundation.http.problem_kinds import Kinds, ProblemError
from foundation.http.problems import send_problem, unhandled_problem
from foundation.http.request_guard import BODY_METHODS, RequestGuard, replay_body
from foundation.http.response_headers import completed

Scope = dict[str, Any]
_log = structlog.get_logger(component="foundation.http")


class _Answer:
    """The app's ``send``: completes the headers of the response start and remembers that it started (an
    error after that can no longer be answered with a Problem: the status line is already out)."""

    __slots__ = ("scope", "send", "started")

    def __init__(self, scope: Scope, send: Any) -> None:
        self.scope = scope
        self.send = send
        self.started = False

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            message = {**message, "headers": completed(self.scope, message.get("headers"))}
        await self.send(message)


class RequestEnvelope:
    def __init__(self, app: Any, *, timeout_seconds: float, guard: RequestGuard) -> None:
        self.app = app
        self.timeout = timeout_seconds
        self.deadlines = Deadlines(timeout_seconds)
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer = _Answer(scope, send)
        task = asyncio.current_task()
        assert task is not None  # noqa: S101  # ASGI servers run each request in a task
        self.deadlines.watch(task)
        try:
            await self._guarded(scope, receive, answer)
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

    async def _guarded(self, scope: Scope, receive: Any, answer: _Answer) -> None:
        """Steps 2 and 3: the guard, then the app; an exception becomes a Problem while nothing was sent."""
        try:
            problem = self.guard.check_head(scope)
            if problem is None and scope["method"] in BODY_METHODS:
                body, problem = await self.guard.read_body(scope, receive)
                if body is None and problem is None:
                    return  # the client went away before its body arrived
                if body is not None:
                    receive = replay_body(body, receive)
            if problem is not None:
                await send_problem(scope, receive, answer, problem)
                return
            await self.app(scope, receive, answer)
        except Exception as exc:
            if answer.started:
                raise
            await send_problem(scope, receive, answer, unhandled_problem(exc))

    def _release(self, task: asyncio.Task[Any]) -> None:
        if self.deadlines.unwatch(task):
            task.uncancel()  # the deadline fired but the app absorbed the cancellation and finished anyway
