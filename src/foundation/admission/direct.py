"""Direct dispatch: endpoints declared ``direct=True`` are answered without the framework's routing and
dependency resolution, by the same pipeline and the same handler.

The route's handler is called with what its parameters ask for — the request, the admission, services from
their providers — and its answer, or its refusal rendered by the same Problem code, is sent as the route
would send it. Only handlers whose parameters are all of that kind can be dispatched directly; anything
else is refused when the app is built. ``FOUNDATION_DIRECT_DISPATCH=false`` turns it off (the framework
then answers everything); the test suite runs both ways and compares.

Why: a scaffold POST is mostly framework work once registrations are group-committed (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from foundation.admission.pipeline import Admission, AdmissionPipeline
from foundation.admission.routing import DeclaredRoute, admitted, report_answer
from foundation.errors import DomainError
from foundation.http.problem_kinds import ProblemError, problem_of
from foundation.http.problems import answer

Argument = Callable[[Request, Admission], Awaitable[Any]]


class DirectDispatch:
    def __init__(self, app: Any, *, routes: Sequence[DeclaredRoute], pipeline: AdmissionPipeline) -> None:
        self.app = app
        self.pipeline = pipeline
        self.targets = [(route, _arguments(route)) for route in routes if route.declaration.direct]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for route, arguments in self.targets:
                if scope["method"] == route.declaration.method and (
                    match := route.path_regex.match(scope["path"])
                ):
                    scope["route"] = route
                    scope["path_params"] = match.groupdict()
                    response = await self._answer(Request(scope, receive), route, arguments)
                    report_answer(scope, route.declaration, response.status_code)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _answer(
        self, request: Request, route: DeclaredRoute, arguments: dict[str, Argument]
    ) -> Response:
        try:
            admission = await self.pipeline.admit(request, route.declaration)
            values = {name: await argument(request, admission) for name, argument in arguments.items()}
            return await route.endpoint(**values)  # type: ignore[no-any-return]
        except ProblemError as problem:
            return answer(request.scope, problem)
        except DomainError as error:
            return answer(request.scope, problem_of(error))


def _arguments(route: DeclaredRoute) -> dict[str, Argument]:
    """How to supply each handler parameter; only the request, the admission and request-only providers."""
    dependant = route.dependant
    arguments: dict[str, Argument] = {}
    if dependant.request_param_name:
        arguments[dependant.request_param_name] = _the_request
    for dependency in dependant.dependencies:
        if dependency.call is admitted:
            arguments[dependency.name] = _the_admission  # type: ignore[index]
        elif not dependency.dependencies and dependency.request_param_name and not _has_params(dependency):
            arguments[dependency.name] = _provider(dependency.call)  # type: ignore[index,arg-type]
        else:
            raise ValueError(f"{route.declaration.name}: parameter {dependency.name!r} needs the framework")
    if _has_params(dependant):
        raise ValueError(
            f"{route.declaration.name}: path, query, header or body parameters need the framework"
        )
    return arguments


def _has_params(dependant: Any) -> bool:
    return bool(
        dependant.path_params or dependant.query_params or dependant.header_params or dependant.body_params
    )


async def _the_request(request: Request, admission: Admission) -> Request:
    return request


async def _the_admission(request: Request, admission: Admission) -> Admission:
    return admission


def _provider(call: Callable[[Request], Awaitable[Any]]) -> Argument:
    async def provided(request: Request, admission: Admission) -> Any:
        return await call(request)

    return provided
