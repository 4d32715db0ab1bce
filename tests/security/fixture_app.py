"""The real app plus one endpoint that fails with a 500: the DAST run must flag it (test_dast.py).
Served by uvicorn with the same production settings the DAST target uses."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from foundation.admission.endpoints import Endpoint
from foundation.admission.routing import Admitted, declare
from foundation.http.ratelimit import EndpointClass

BROKEN = Endpoint(
    "GET", "/api/v1/tenants/{tenantId}/broken", scopes=("tokens.read",), budget=EndpointClass.theme_read
)


def create_app() -> FastAPI:
    from foundation.app import create_app as create_real_app

    app = create_real_app()
    router = APIRouter()

    @declare(
        router, BROKEN, responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}}
    )
    async def broken(admission: Admitted) -> dict[str, str]:
        raise RuntimeError("planted failure")

    app.include_router(router)
    return app
