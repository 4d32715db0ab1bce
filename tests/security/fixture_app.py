"""The real app plus one endpoint that fails with a 500: the DAST run must flag it (test_dast.py).
Served by uvicorn with the same production settings the DAST target uses."""

from __future__ import annotations

from fastapi import FastAPI, Request

from foundation.app import create_app as create_real_app
from foundation.auth.scopes import requires


def create_app() -> FastAPI:
    app = create_real_app()

    @app.get(
        "/api/v1/tenants/{tenantId}/broken",
        dependencies=[requires("tokens.read")],
        responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
    )
    async def broken(tenantId: str, request: Request) -> dict[str, str]:
        raise RuntimeError("planted failure")

    return app
