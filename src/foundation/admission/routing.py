"""FastAPI glue: a declared endpoint becomes a route whose one admission dependency runs the pipeline.

``declare(router, ENDPOINT, ...)`` registers the handler under the endpoint's method and path with a route
class that carries the declaration; shortcuts (response cache, direct dispatcher) and the OpenAPI document
find every declaration through :func:`declared_routes`. A handler takes the admitted request as a parameter::

    async def handler(request: Request, admission: Admitted, themes: Themes) -> Response: ...
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi import routing as fastapi_routing
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import Scope

from foundation.admission.endpoints import Endpoint, TenantSource
from foundation.admission.pipeline import IDEMPOTENCY_HEADER, TENANT_HEADER, Admission, AdmissionPipeline
from foundation.errors import DomainError
from foundation.http.problem_kinds import ProblemError
from foundation.http.problems import status_of
from foundation.http.provide import service

Handler = TypeVar("Handler", bound=Callable[..., Coroutine[Any, Any, Response]])


class DeclaredRoute(APIRoute):
    """An API route built from an :class:`Endpoint` (set on a per-endpoint subclass by :func:`declare`)."""

    declaration: Endpoint

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        declaration = self.declaration
        if declaration.on_answer is None:
            return handler

        async def reporting_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except (ProblemError, DomainError, RequestValidationError) as exc:
                report_answer(request.scope, declaration, status_of(exc))
                raise
            report_answer(request.scope, declaration, response.status_code)
            return response

        return reporting_handler


def report_answer(scope: Scope, endpoint: Endpoint, status: int) -> None:
    """The endpoint's outcome hook, for requests whose tenant was established (others are no one's)."""
    tenant = (scope.get("state") or {}).get("tenant")
    if endpoint.on_answer is not None and tenant is not None:
        endpoint.on_answer(tenant, status)


async def admitted(request: Request) -> Admission:
    """The one admission dependency of every declared route."""
    declaration: Endpoint = request.scope["route"].declaration
    return await service(request, AdmissionPipeline).admit(request, declaration)


Admitted = Annotated[Admission, Depends(admitted)]


def declare(router: APIRouter, endpoint: Endpoint, **route_options: Any) -> Callable[[Handler], Handler]:
    """Register the decorated handler as ``endpoint``'s route on ``router`` (which must have no prefix)."""

    def register(handler: Handler) -> Handler:
        route_class = type(f"{handler.__name__}_route", (DeclaredRoute,), {"declaration": endpoint})
        router.add_api_route(
            endpoint.path,
            handler,
            methods=[endpoint.method],
            route_class_override=route_class,
            openapi_extra=_openapi_extra(endpoint, route_options.pop("openapi_extra", None)),
            **route_options,
        )
        return handler

    return register


def declared_routes(routes: Iterable[Any]) -> list[DeclaredRoute]:
    """The declared routes among an app's routes (newer FastAPI keeps included routers as route contexts)."""
    iterate = getattr(fastapi_routing, "iter_route_contexts", None)
    candidates = (
        [context.original_route for context in iterate(list(routes))] if iterate is not None else routes
    )
    return [route for route in candidates if isinstance(route, DeclaredRoute)]


def _openapi_extra(endpoint: Endpoint, extra: dict[str, Any] | None) -> dict[str, Any]:
    """What the declaration says about the request: parameters the pipeline reads and the JSON body."""
    parameters: list[dict[str, Any]] = []
    if "{tenantId}" in endpoint.path:
        parameters.append(
            {
                "name": "tenantId",
                "in": "path",
                "required": True,
                "description": "Tenant UUID (any letter case) or slug.",
                "schema": {"type": "string", "minLength": 1},
            }
        )
    parameters.append(
        {
            "name": TENANT_HEADER,
            "in": "header",
            "required": endpoint.tenant is TenantSource.path,
            "description": "Tenant UUID or slug; must name the same tenant as the path."
            if endpoint.tenant is TenantSource.path
            else "Tenant UUID or slug (optional).",
            "schema": {"type": "string", "minLength": 1},
        }
    )
    if endpoint.idempotent:
        parameters.append(
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": True,
                "description": "Client-chosen key, 1..255 visible ASCII characters, unique per operation.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
            }
        )
    if endpoint.conditional:
        parameters.append(
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "ETags (weak comparison) or *; a match answers 304.",
                "schema": {"type": "string"},
            }
        )
    if endpoint.query is not None:
        parameters += query_parameters(endpoint.query)
    result: dict[str, Any] = {"parameters": parameters}
    if endpoint.body is not None:
        result["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{endpoint.body.__name__}"}}
            },
        }
    for key, value in (extra or {}).items():
        result[key] = [*result.get(key, []), *value] if key == "parameters" else value
    return result


def path_parameter(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OpenAPI path parameter the handler reads from ``request.path_params`` itself."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", **(schema or {})},
    }


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI query parameters of a query model's fields (optional ones may be null: say only the type)."""
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", ()))
    parameters = []
    for name, field_schema in schema["properties"].items():
        field_schema = dict(field_schema)
        description = field_schema.pop("description", None)
        field_schema.pop("title", None)
        if field_schema.get("default", 0) is None:
            del field_schema["default"]
        variants = [v for v in field_schema.pop("anyOf", []) if v.get("type") != "null"]
        if variants:
            field_schema = {**variants[0], **field_schema}
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        if description:
            parameter["description"] = description
        parameter["schema"] = field_schema
        parameters.append(parameter)
    return parameters
