"""The served OpenAPI 3.1 document: FastAPI's, completed from the endpoint declarations.

FastAPI documents what it parses (query and path parameters of handlers, response models). The rest comes
from the declarations (admission/routing.py adds the parameters the pipeline reads and the JSON body to each
operation): here the body models' schemas are registered, every operation gets what is true of all of them
(400/413/415/405/431/500/503 Problems), FastAPI's default 422 is replaced by the contract's 400, and with
``FOUNDATION_AUTH=jwt`` the OAuth2 scheme and each operation's scopes are declared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from foundation.admission.routing import DeclaredRoute, declared_routes
from foundation.auth.scopes import SCOPES
from foundation.http.openapi import PROBLEM_SCHEMA, problem
from foundation.settings import Settings

SECURITY_SCHEME = "oauth2"
_UNAUTHENTICATED_HEADERS = {
    "WWW-Authenticate": {
        "description": 'Bearer realm="iabank-foundation" (with error="invalid_token" when a token was sent).',
        "schema": {"type": "string"},
    }
}
_WRITE_METHODS = frozenset({"post", "put", "patch"})


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
    routes = declared_routes(app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ProblemDetails"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    _add_body_schemas(components, routes)
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if isinstance(operation, dict) and "responses" in operation:
                _complete(method, operation)
    settings: Settings | None = getattr(app.state, "services", {}).get(Settings)
    if settings is not None and settings.auth.value == "jwt":
        add_security(schema, routes, token_url=settings.auth_token_url)
    app.openapi_schema = schema
    return schema


def _add_body_schemas(components: dict[str, Any], routes: Sequence[DeclaredRoute]) -> None:
    """The declared body models (validated by the pipeline, so FastAPI does not know them)."""
    models = {route.declaration.body for route in routes if route.declaration.body is not None}
    if not models:
        return
    _, top = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    for name, definition in top.get("$defs", {}).items():
        if components.get(name, definition) != definition:
            raise ValueError(f"OpenAPI schema {name!r} differs between a request body and a response")
        components[name] = definition


def _complete(method: str, operation: dict[str, Any]) -> None:
    """What is true of every operation, and the contract's 400 instead of FastAPI's 422."""
    responses = operation["responses"]
    if "HTTPValidationError" in str(responses.get("422", {})):
        responses.pop("422")
    if method in _WRITE_METHODS or operation.get("parameters"):
        responses.setdefault("400", problem(400, "Invalid request"))
    if method in _WRITE_METHODS:
        responses.setdefault("413", problem(413, "Request body too large"))
        responses.setdefault("415", problem(415, "Request body is not JSON"))
    responses.setdefault("405", problem(405, "Method not allowed"))
    responses.setdefault("431", problem(431, "Request headers too large"))
    responses.setdefault("500", problem(500, "Internal error (no details are disclosed)"))
    responses.setdefault("503", problem(503, "A dependency (database) is unavailable"))


def add_security(schema: dict[str, Any], routes: Sequence[DeclaredRoute], *, token_url: str) -> None:
    """OAuth2 client-credentials scheme with every scope, and each operation's declared scopes.

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
    for route in routes:
        declaration = route.declaration
        operation = paths.get(declaration.path, {}).get(declaration.method.lower())
        if not route.include_in_schema or not isinstance(operation, dict):
            continue
        operation["security"] = [{SECURITY_SCHEME: list(declaration.scopes)}]
        responses = operation.setdefault("responses", {})
        responses.setdefault(
            "401", problem(401, "Missing or invalid bearer token", dict(_UNAUTHENTICATED_HEADERS))
        )
        responses.setdefault("403", problem(403, "Missing scope, or the token may not act on this tenant"))
