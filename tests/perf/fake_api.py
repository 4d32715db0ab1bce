"""A tiny stand-in of the Foundation API for the perf smoke tests (run as a script under uvicorn).

``python fake_api.py PORT [--fail ENDPOINT]`` answers the four smoke endpoints with the headers the smoke
checks (ETag, RateLimit-*, problem+json with traceId); ``--fail stories`` makes that endpoint answer 500.
"""

from __future__ import annotations

import argparse
import json
import secrets

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

THEME_ETAG = 'W/"0123456789abcdef0123456789abcdef"'
RATE = {"RateLimit-Limit": "1000000", "RateLimit-Remaining": "999999", "RateLimit-Reset": "60"}


def build_app(fail: str | None = None) -> Starlette:
    def problem(request: Request, status: int, title: str) -> Response:
        body = {
            "type": f"https://iabank.local/problems/foundation/{title}",
            "title": title,
            "status": status,
            "detail": "failure injected by the perf smoke tests",
            "instance": request.url.path,
            "traceId": secrets.token_hex(16),
        }
        return Response(json.dumps(body), status, media_type="application/problem+json")

    def ok(payload: object, status: int = 200, extra: dict[str, str] | None = None) -> Response:
        headers = {**RATE, **(extra or {})}
        return Response(json.dumps(payload), status, headers=headers, media_type="application/json")

    async def health(request: Request) -> Response:
        return ok({"status": "ok"})

    async def theme(request: Request) -> Response:
        if fail == "theme":
            return problem(request, 500, "internal_error")
        if request.headers.get("if-none-match") == THEME_ETAG:
            return Response(status_code=304, headers={**RATE, "ETag": THEME_ETAG})
        return ok({"version": "1.0.0", "categories": {}}, extra={"ETag": THEME_ETAG})

    async def metrics(request: Request) -> Response:
        if fail == "tenant_metrics":
            return problem(request, 500, "internal_error")
        return ok({"data": [], "pagination": {"page": 1, "perPage": 25, "totalItems": 0, "totalPages": 0}})

    async def stories(request: Request) -> Response:
        if fail == "stories":
            return problem(request, 500, "internal_error")
        return ok({"data": [], "pagination": {"page": 1, "perPage": 25, "totalItems": 0, "totalPages": 0}})

    async def scaffold(request: Request) -> Response:
        if fail == "scaffold":
            return problem(request, 500, "internal_error")
        body = await request.json()
        return ok({"scaffoldId": secrets.token_hex(16), "featureSlug": body.get("featureSlug")}, 201)

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/health/ready", health),
            Route("/api/v1/tenants/{tenant}/themes/current", theme),
            Route("/api/v1/tenant-metrics/{tenant}/sc", metrics),
            Route("/api/v1/design-system/stories", stories),
            Route("/api/v1/tenants/{tenant}/features/scaffold", scaffold, methods=["POST"]),
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--fail", default=None)
    args = parser.parse_args()
    uvicorn.run(build_app(args.fail), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
