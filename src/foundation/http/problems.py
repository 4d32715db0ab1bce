"""Problem Details (RFC 9457) for every error response.

The HTTP edge (admission, handlers, middleware) raises :class:`ProblemError`; services raise domain errors
(``foundation.errors``), mapped to problem kinds in one table, :data:`DOMAIN_PROBLEMS`; framework and
database errors propagate. The handlers installed by :func:`install_problem_handlers` and the catch-all
middleware turn everything into ``application/problem+json`` with a ``traceId``. Nothing from an
exception's text reaches a 500 body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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
from foundation.http.responses import dumps
from foundation.observability.context import trace_id_of

PROBLEM_BASE = "https://iabank.local/problems/foundation/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = structlog.get_logger(component="foundation.http.problems")


@dataclass(frozen=True)
class Kind:
    slug: str
    title: str
    status: int


class Kinds:
    validation = Kind("validation", "invalid_request", 400)
    idempotency_key_required = Kind("idempotency-key", "idempotency_key_required", 400)
    idempotency_key_invalid = Kind("idempotency-key", "idempotency_key_invalid", 400)
    tenant_header = Kind("tenant-header", "tenant_header_mismatch", 400)
    pagination = Kind("pagination", "invalid_pagination", 400)
    unauthenticated = Kind("authentication", "unauthenticated", 401)
    forbidden = Kind("authorization", "forbidden", 403)
    tenant_not_found = Kind("tenant", "tenant_not_found", 404)
    theme_not_found = Kind("tenant-theme", "tenant_theme_not_found", 404)
    not_found = Kind("not-found", "not_found", 404)
    method_not_allowed = Kind("method", "method_not_allowed", 405)
    idempotency_conflict = Kind("idempotency-replay", "idempotency_conflict", 409)
    feature_conflict = Kind("feature-conflict", "feature_already_registered", 409)
    theme_conflict = Kind("theme-conflict", "theme_version_conflict", 409)
    invalid_transition = Kind("lifecycle", "invalid_transition", 409)
    precondition = Kind("precondition", "precondition_failed", 412)
    payload_too_large = Kind("payload-too-large", "payload_too_large", 413)
    unsupported_media_type = Kind("media-type", "unsupported_media_type", 415)
    idempotency_mismatch = Kind("idempotency-mismatch", "idempotency_payload_mismatch", 422)
    rate_limit = Kind("rate-limit", "rate_limit_exceeded", 429)
    headers_too_large = Kind("headers-too-large", "request_header_fields_too_large", 431)
    internal = Kind("internal", "internal_error", 500)
    unavailable = Kind("unavailable", "service_unavailable", 503)
    timeout = Kind("timeout", "request_timeout", 503)


# Every domain error a service may raise → the problem kind the API answers with (a test checks each
# DomainError subclass has an entry; the most specific class wins).
DOMAIN_PROBLEMS: dict[type[errors.DomainError], Kind] = {
    errors.InvalidInput: Kinds.validation,
    errors.UnknownTenant: Kinds.tenant_not_found,
    errors.NotFound: Kinds.not_found,
    errors.ThemeNotFound: Kinds.theme_not_found,
    errors.FeatureAlreadyRegistered: Kinds.feature_conflict,
    errors.InvalidTransition: Kinds.invalid_transition,
    errors.IdempotencyKeyReused: Kinds.idempotency_mismatch,
    errors.IdempotencyInProgress: Kinds.idempotency_conflict,
    errors.ThemeVersionConflict: Kinds.theme_conflict,
    errors.Busy: Kinds.unavailable,
}


@dataclass
class Violation:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class ProblemError(Exception):
    kind: Kind
    detail: str
    violations: Sequence[Violation] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.kind.title}: {self.detail}"


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


def problem_of(exc: errors.DomainError) -> ProblemError:
    """The Problem a domain error answers with."""
    kind = next(DOMAIN_PROBLEMS[cls] for cls in type(exc).__mro__ if cls in DOMAIN_PROBLEMS)
    headers = {}
    if exc.location is not None:
        headers["Location"] = exc.location
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    violations = [Violation(item.field, item.message) for item in exc.errors]
    return ProblemError(kind, exc.detail, violations, headers)


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


# --- validation errors: pydantic locations become field paths ---------------------------------------

_PAGINATION_PARAMS = {"page", "page_size", "per_page"}


# Location parts pydantic adds for validator wrappers and for the members of a union (``int | float``).
_PYDANTIC_FRAMES = frozenset(
    {
        "function-after",
        "function-before",
        "function-wrap",
        "function-plain",
        "int",
        "float",
        "str",
        "bool",
        "bytes",
        "none",
        "list",
        "dict",
        "uuid",
        "datetime",
        "date",
        "decimal",
        "constrained-str",
        "constrained-int",
        "constrained-float",
        "lax-or-strict",
        "json-or-python",
        "is-instance",
        "enum",
        "literal",
    }
)


def field_path(location: Sequence[int | str]) -> str:
    """``('body', 'slices', 0, 'files', 1, 'checksum')`` → ``slices[0].files[1].checksum``."""
    parts = list(location)
    source = parts.pop(0) if parts and parts[0] in {"body", "query", "header", "path"} else None
    if source == "header" and parts:
        return "-".join(word.capitalize() for word in str(parts[0]).replace("_", "-").split("-"))
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _PYDANTIC_FRAMES or "[" in str(part):
            continue  # pydantic validator frames and union member tags, not input fields
        else:
            path += ("." if path else "") + str(part)
    return path or "body"


def _violation_message(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def violations_from(errors: Sequence[Mapping[str, Any]]) -> list[Violation]:
    seen: set[tuple[str, str]] = set()
    result = []
    for error in errors:
        item = Violation(field_path(error.get("loc", ())), _violation_message(error))
        if (item.field, item.message) not in seen:
            seen.add((item.field, item.message))
            result.append(item)
    return result


def validation_problem(errors: Sequence[Mapping[str, Any]]) -> ProblemError:
    locations = [tuple(e.get("loc", ())) for e in errors]
    if locations and all(
        len(loc) >= 2 and loc[0] == "query" and loc[1] in _PAGINATION_PARAMS for loc in locations
    ):
        return ProblemError(Kinds.pagination, "Invalid pagination parameters.", violations_from(errors))
    if any(e.get("type") == "json_invalid" for e in errors):
        return ProblemError(Kinds.validation, "The request body is not valid JSON.", violations_from(errors))
    return ProblemError(Kinds.validation, "The request is invalid.", violations_from(errors))


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
