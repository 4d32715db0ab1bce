"""Problem Details (RFC 9457) for every error response.

The HTTP edge (admission, handlers, middleware) raises :class:`ProblemError`; services raise domain errors
(``foundation.errors``), mapped to problem kinds in one table, :data:`DOMAIN_PROBLEMS` (both in
``problem_kinds``, which imports no web framework: the CLI's verbs use them too); framework and
database errors propagate. The handlers installed by :func:`install_problem_handlers` and the catch-all
middleware turn everything into ``application/problem+json`` with a ``traceId``. Nothing from an
exception's text reaches a 500 body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi import routing as fastapi_routing
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from foundation import errors
from foundation.db_failures import is_lock_conflict, is_transient_unavailability
from foundation.http.json_encoding import dumps
from foundation.http.problem_kinds import (
    PROBLEM_BASE,
    Kind,
    Kinds,
    ProblemError,
    Violation,
    problem_of,
    validation_problem,
)
from foundation.observability.context import trace_id_of

PROBLEM_MEDIA_TYPE = "application/problem+json"

log = structlog.get_logger(component="foundation.http.problems")


def problem_response(
    request_path: str,
    trace_id: str,
    kind: Kind,
    detail: str,
    *,
    violations: Iterable[Violation] = (),
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind.slug,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
        "instance": request_path,
        "traceId": trace_id,
    }
    items = [v.as_dict() for v in violations]
    if items:
        body["violations"] = items
    if extra:
        body.update(extra)
    return Response(
        dumps(body), status_code=kind.status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE
    )


def status_of(exc: BaseException) -> int:
    """The status an error is answered with (500 for anything unexpected)."""
    if isinstance(exc, ProblemError):
        return exc.kind.status
    if isinstance(exc, errors.DomainError):
        return problem_of(exc).kind.status
    if isinstance(exc, RequestValidationError):
        return 400
    return 500


def answer(scope: Scope, problem: ProblemError) -> Response:
    """The response of ``problem`` for the request in ``scope`` (every path that answers a Problem)."""
    return problem_response(
        scope.get("path", "/"),
        trace_id_of(scope),
        problem.kind,
        problem.detail,
        violations=problem.violations,
        headers=problem.headers,
        extra=problem.extra,
    )


def _respond(request: Request, problem: ProblemError) -> Response:
    return answer(request.scope, problem)


# --- handlers ------------------------------------------------------------------------------------------


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> Response:
        return _respond(request, exc)

    @app.exception_handler(errors.DomainError)
    async def _domain(request: Request, exc: errors.DomainError) -> Response:
        return _respond(request, problem_of(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return _respond(request, validation_problem(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        kinds = {404: Kinds.not_found, 405: Kinds.method_not_allowed, 413: Kinds.payload_too_large}
        kind = kinds.get(exc.status_code)
        if kind is None:
            kind = Kind("http", HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_"), exc.status_code)
        detail = {
            404: f"No resource at {request.url.path}.",
            405: f"Method {request.method} is not allowed here.",
        }.get(exc.status_code, str(exc.detail))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return _respond(request, ProblemError(kind, detail, headers=headers))


def allowed_methods(request: Request) -> list[str]:
    """Methods of the path template this path resolves to (the first matching template, as routing does).

    Starlette only reports the methods of the first matching route; a template served by several routes
    (GET and PUT of stories) needs the union.
    """
    contexts = list(fastapi_routing.iter_route_contexts(request.app.routes))
    path = request.scope.get("path", "")
    template = next((c.path for c in contexts if c.path_regex.match(path)), None)
    methods: set[str] = set()
    for context in contexts:
        if context.path == template:
            methods.update(getattr(context, "methods", None) or ())
    return sorted(methods)


async def send_problem(scope: dict[str, Any], receive: Any, send: Any, problem: ProblemError) -> None:
    """Answer an ASGI request with ``problem`` from inside a middleware."""
    await answer(scope, problem)(scope, receive, send)


def unhandled_problem(exc: BaseException) -> ProblemError:
    if isinstance(exc, ProblemError):
        return exc
    if isinstance(exc, errors.DomainError):
        return problem_of(exc)
    # Database failover, restart, saturation, or a deadlock it broke: a retry can succeed (db_failures.py).
    if is_transient_unavailability(exc) or is_lock_conflict(exc):
        log.warning("dependency_unavailable", error_type=type(exc).__name__)
        return ProblemError(
            Kinds.unavailable, "A dependency is unavailable; retry later.", headers={"Retry-After": "5"}
        )
    log.error("unhandled_exception", error_type=type(exc).__name__, exc_info=exc)
    return ProblemError(Kinds.internal, "An unexpected error occurred.")
