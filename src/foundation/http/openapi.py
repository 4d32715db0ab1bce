"""OpenAPI 3.1 document: shared response declarations and the final touches FastAPI cannot infer.

Routes declare their own success headers and problem statuses with the helpers below; :func:`build_openapi`
adds what is true of every operation (500/503 problems, 405), replaces FastAPI's default 422 validation
response with the contract's 400 Problem, and registers the Problem Details schema.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, routing
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from foundation.auth.scopes import SCOPES, route_scopes

PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "ProblemDetails",
    "description": "RFC 9457 Problem Details.",
    "required": ["type", "title", "status", "detail", "instance", "traceId"],
    "properties": {
        "type": {"type": "string", "description": "https://iabank.local/problems/foundation/<kind>"},
        "title": {"type": "string", "description": "Stable snake_case code."},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "Request path (relative reference)."},
        "traceId": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "violations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}

_INT_HEADER = {"schema": {"type": "integer", "minimum": 0}}
RATE_LIMIT_HEADERS: dict[str, Any] = {
    "RateLimit-Limit": {"description": "Requests allowed in the window.", **_INT_HEADER},
    "RateLimit-Remaining": {"description": "Requests left in the window.", **_INT_HEADER},
    "RateLimit-Reset": {"description": "Seconds until the window resets.", **_INT_HEADER},
}
ETAG_HEADER = {"ETag": {"description": 'Weak entity tag W/"<32 hex>".', "schema": {"type": "string"}}}
LOCATION_HEADER = {"Location": {"description": "Path of the registration.", "schema": {"type": "string"}}}


def success_headers(
    *, etag: bool = False, location: bool = False, extra: dict[str, Any] | None = None
) -> dict:
    headers: dict[str, Any] = dict(RATE_LIMIT_HEADERS)
    if etag:
        headers.update(ETAG_HEADER)
    if location:
        headers.update(LOCATION_HEADER)
    headers.update(extra or {})
    return headers


def problem(status: int, description: str | None = None, headers: dict[str, Any] | None = None) -> dict:
    response: dict[str, Any] = {
        "description": description or HTTPStatus(status).phrase,
        "content": {"application/problem+json": {"schema": PROBLEM_REF}},
    }
    if headers:
        response["headers"] = headers
    return response


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        if status == 429:
            retry = {"Retry-After": {"description": "Seconds to wait.", **_INT_HEADER}}
            responses[status] = problem(status, "Rate limit exceeded", {**RATE_LIMIT_HEADERS, **retry})
        else:
            responses[status] = problem(status)
    return responses


def conditional_get_responses() -> dict[int | str, dict[str, Any]]:
    return {
        304: {"description": "Not modified (If-None-Match matched).", "headers": success_headers(etag=True)}
    }


IDEMPOTENCY_KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}


def _document_required_headers(path: str, operation: dict[str, Any]) -> None:
    """Headers the handlers check themselves (to answer the contract's own Problem kinds) are optional for
    FastAPI but required by the contract: ``X-Tenant-Id`` on tenant-scoped paths and ``Idempotency-Key``."""
    for parameter in operation.get("parameters", []):
        if parameter.get("in") != "header":
            continue
        if parameter["name"] == "X-Tenant-Id" and "{tenantId}" in path:
            parameter["required"] = True
            parameter["schema"] = {"type": "string", "minLength": 1, "description": "Tenant UUID or slug."}
        elif parameter["name"] == "Idempotency-Key":
            parameter["required"] = True
            parameter["schema"] = dict(IDEMPOTENCY_KEY_SCHEMA)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version="3.1.0",
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ProblemDetails"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, path_item in schema.get("paths", {}).items():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            default_422 = responses.get("422", {})
            if "HTTPValidationError" in str(default_422):
                responses.pop("422")
            if method in {"post", "put", "patch"} or operation.get("parameters"):
                responses.setdefault("400", problem(400, "Invalid request"))
            if method in {"post", "put", "patch"}:
                responses.setdefault("413", problem(413, "Request body too large"))
                responses.setdefault("415", problem(415, "Request body is not JSON"))
            _document_required_headers(path, operation)
            responses.setdefault("405", problem(405, "Method not allowed"))
            responses.setdefault("431", problem(431, "Request headers too large"))
            responses.setdefault("500", problem(500, "Internal error (no details are disclosed)"))
            responses.setdefault("503", problem(503, "A dependency (database) is unavailable"))
    settings = getattr(app.state, "settings", None)
    if settings is not None and settings.auth.value == "jwt":
        add_security(app, schema, token_url=settings.auth_token_url)
    app.openapi_schema = schema
    return schema


SECURITY_SCHEME = "oauth2"
_UNAUTHENTICATED_HEADERS = {
    "WWW-Authenticate": {
        "description": 'Bearer realm="iabank-foundation" (with error="invalid_token" when a token was sent).',
        "schema": {"type": "string"},
    }
}


def add_security(app: FastAPI, schema: dict[str, Any], *, token_url: str) -> None:
    """OAuth2 client-credentials scheme with every scope, and each operation's ``requires(...)`` scopes.

    Only declared when ``FOUNDATION_AUTH=jwt`` (docs/security.md): with auth off the document describes
    what the server enforces, which is nothing.
    """
    schema["components"]["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "oauth2",
            "description": "Client-credentials bearer JWT. A token with a `tenant_id` claim may act only on "
            "that tenant; a token without it needs `platform.admin` to act on any tenant.",
            "flows": {"clientCredentials": {"tokenUrl": token_url, "scopes": dict(SCOPES)}},
        }
    }
    paths = schema.get("paths", {})
    for route in _api_routes(app):
        if not route.include_in_schema:
            continue
        scopes = route_scopes([dependency.call for dependency in route.dependant.dependencies])
        if not scopes:
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if not isinstance(operation, dict):
                continue
            operation["security"] = [{SECURITY_SCHEME: list(scopes)}]
            responses = operation.setdefault("responses", {})
            responses.setdefault(
                "401", problem(401, "Missing or invalid bearer token", dict(_UNAUTHENTICATED_HEADERS))
            )
            responses.setdefault(
                "403", problem(403, "Missing scope, or the token may not act on this tenant")
            )


def _api_routes(app: FastAPI) -> list[Any]:
    """Every API route with its effective path (routers included into the app are flattened)."""
    iterate = getattr(routing, "iter_route_contexts", None)
    if iterate is None:  # older FastAPI: included routes are plain APIRoutes on the app
        return [route for route in app.routes if isinstance(route, APIRoute)]
    return [context for context in iterate(app.routes) if isinstance(context.original_route, APIRoute)]
