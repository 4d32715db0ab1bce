"""Typed access to the app's services: ``create_app`` registers one instance per class, handlers and
dependencies receive them through ``Depends(provide(Class))`` (or :func:`service`), never through
``request.app.state`` themselves.

    Themes = Annotated[ThemeService, Depends(provide(ThemeService))]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

from starlette.requests import Request

T = TypeVar("T")


def install(app: Any, services: Mapping[type, object]) -> None:
    for cls, instance in services.items():
        if not isinstance(instance, cls):
            raise TypeError(f"{instance!r} is not a {cls.__name__}")
    app.state.services = dict(services)


def service(request: Request, cls: type[T]) -> T:
    return cast(T, request.app.state.services[cls])


def provide(cls: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A FastAPI dependency returning the app's ``cls`` (async: a sync dependency costs a thread hop)."""

    async def provider(request: Request) -> T:
        return service(request, cls)

    provider.__name__ = f"provide_{cls.__name__}"
    return provider
