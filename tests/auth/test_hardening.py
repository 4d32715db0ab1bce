"""Input hardening with authentication on: header/body/depth limits, request timeout, CORS, no leaks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from foundation.http.middleware import RequestEnvelope
from foundation.http.request_guard import RequestGuard
from tests.auth.conftest import KeySet, bearer
from tests.conftest import ALFA

THEME_PUT = f"/api/v1/tenants/{ALFA}/themes/9.9.9"


def enveloped(app: Any, timeout_seconds: float) -> RequestEnvelope:
    """The request envelope alone around ``app``, with generous guard limits."""
    guard = RequestGuard(max_body_bytes=1 << 20, max_header_bytes=1 << 16, max_json_depth=32)
    return RequestEnvelope(app, timeout_seconds=timeout_seconds, guard=guard)


SAMPLES = f"/api/v1/tenant-metrics/{ALFA}/sc"


async def test_limits_apply_before_authentication(
    secured: Callable[..., httpx.AsyncClient], mint: Callable[..., str]
) -> None:
    token = mint(tenant=ALFA)
    async with secured(max_header_bytes=2048, max_body_bytes=4096, max_json_depth=8) as client:
        response = await client.get(
            f"/api/v1/tenants/{ALFA}/themes/current", headers={"X-Tenant-Id": ALFA, "X-Padding": "p" * 4096}
        )
        assert response.status_code == 431
        response = await client.post(
            SAMPLES,
            headers=bearer(token, **{"X-Tenant-Id": ALFA}),
            content=b'{"samples": ["' + b"x" * 8192 + b'"]}',
        )
        assert response.status_code == 413
        deep = "[" * 20 + "]" * 20
        response = await client.post(
            SAMPLES,
            headers=bearer(token, **{"X-Tenant-Id": ALFA, "Content-Type": "application/json"}),
            content=f'{{"samples": {deep}}}'.encode(),
        )
        assert response.status_code == 400
        assert "nesting" in response.json()["detail"]
        for result in (response,):
            assert result.headers["content-type"].startswith("application/problem+json")


async def test_timeout_middleware_answers_503_problem() -> None:
    never = asyncio.Event()

    async def slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await never.wait()

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": "/slow", "headers": [], "state": {}}
    await enveloped(slow_app, 0.05)(scope, receive, send)
    assert sent[0]["status"] == 503
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body["title"] == "request_timeout"
    assert body["instance"] == "/slow"


async def test_timeout_after_response_started_is_cut_short() -> None:
    never = asyncio.Event()

    async def streaming_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await never.wait()

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/stream", "headers": []}
    await enveloped(streaming_app, 0.05)(scope, None, send)
    assert [m["type"] for m in sent] == ["http.response.start"]


async def test_an_apps_own_timeout_error_is_not_the_deadline() -> None:
    """A driver's TimeoutError is a dependency failing (503 ``unavailable``), not the request deadline."""

    async def failing_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise TimeoutError("driver timeout")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "state": {}}
    await enveloped(failing_app, 5)(scope, None, send)
    assert sent[0]["status"] == 503
    assert json.loads(sent[1]["body"])["title"] == "service_unavailable"


async def test_only_the_request_past_its_deadline_is_cut_and_nothing_stays_watched() -> None:
    release = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] == "/slow":
            await release.wait()
        else:
            await asyncio.sleep(0.01)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    middleware = enveloped(app, 0.1)

    async def call(path: str) -> int:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": path, "headers": [], "state": {}}
        await middleware(scope, None, send)
        return int(sent[0]["status"])

    statuses = await asyncio.gather(call("/slow"), *(call(f"/fast/{i}") for i in range(20)))
    assert statuses == [503] + [200] * 20
    assert not middleware.deadlines._deadlines and not middleware.deadlines._fired
    await asyncio.sleep(middleware.deadlines.granularity * 2)
    assert middleware.deadlines._tick is None  # the timer only runs while requests are in flight


async def test_a_cancellation_that_is_not_the_deadline_propagates() -> None:
    started = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        started.set()
        await asyncio.sleep(10)

    middleware = enveloped(app, 5)
    task = asyncio.create_task(
        middleware({"type": "http", "method": "GET", "path": "/", "headers": []}, None, None)
    )
    await started.wait()
    task.cancel()  # e.g. the server shutting down
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not middleware.deadlines._deadlines


async def test_an_app_that_absorbs_the_deadline_finishes_with_its_task_uncancelled() -> None:
    async def stubborn_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # cleans up and answers anyway
            await asyncio.sleep(10)
        await send({"type": "http.response.start", "status": 200, "headers": []})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> int:
        await enveloped(stubborn_app, 0.05)({"type": "http", "method": "GET", "path": "/"}, None, send)
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    assert await asyncio.create_task(run()) == 0
    assert [m["status"] for m in sent] == [200]


async def test_timeout_is_wired_from_settings(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(request_timeout_seconds=7.5) as client:
        app = client._transport.app  # type: ignore[attr-defined]
        wired = [m for m in app.user_middleware if m.cls is RequestEnvelope]
        assert wired and wired[0].kwargs["timeout_seconds"] == 7.5


async def test_no_cors_by_default(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client() as client:
        response = await client.options(
            SAMPLES,
            headers={"Origin": "https://app.iabank.local", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in response.headers
        response = await client.get("/health", headers={"Origin": "https://app.iabank.local"})
        assert "access-control-allow-origin" not in response.headers


async def test_cors_allowlist(secured: Callable[..., httpx.AsyncClient], mint: Callable[..., str]) -> None:
    allowed = "https://app.iabank.local"
    async with secured(cors_allow_origins=f"{allowed}, https://admin.iabank.local") as client:
        preflight = await client.options(
            SAMPLES,
            headers={
                "Origin": allowed,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, x-tenant-id",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == allowed
        methods = preflight.headers["access-control-allow-methods"]
        assert {"GET", "PUT", "POST"} <= {m.strip() for m in methods.split(",")}
        assert "DELETE" not in methods
        denied = await client.options(
            SAMPLES, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert denied.headers.get("access-control-allow-origin") != "https://evil.example"
        response = await client.get(
            f"/api/v1/tenants/{ALFA}/themes/current",
            headers=bearer(mint(tenant=ALFA), **{"X-Tenant-Id": ALFA, "Origin": allowed}),
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == allowed
        exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
        assert {
            "etag",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "location",
            "idempotent-replayed",
        } <= exposed


def test_cors_origins_are_validated() -> None:
    from pydantic import ValidationError

    from foundation.settings import Settings

    with pytest.raises(ValidationError):
        Settings(cors_allow_origins="app.iabank.local")
    with pytest.raises(ValidationError):
        Settings(cors_allow_origins="https://app.iabank.local/path")
    assert Settings(cors_allow_origins="*").cors_allow_origins == ["*"]


async def test_error_bodies_disclose_no_settings_or_traces(
    secured: Callable[..., httpx.AsyncClient], mint: Callable[..., str], keys: KeySet
) -> None:
    secret_markers = [str(keys.jwks_path), "auth.test.local", "Traceback", 'File "', "jwks"]
    async with secured() as client:
        responses = [
            await client.get(f"/api/v1/tenants/{ALFA}/themes/current", headers={"X-Tenant-Id": ALFA}),
            await client.get(
                f"/api/v1/tenants/{ALFA}/themes/current",
                headers=bearer(mint(tenant=ALFA, iss="https://other/"), **{"X-Tenant-Id": ALFA}),
            ),
            await client.get(
                f"/api/v1/tenants/{ALFA}/themes/current",
                headers=bearer(mint(tenant=ALFA, scopes=["metrics.read"]), **{"X-Tenant-Id": ALFA}),
            ),
            await client.put(THEME_PUT, headers=bearer("x.y.z", **{"X-Tenant-Id": ALFA}), json={}),
        ]
        assert [response.status_code for response in responses] == [401, 401, 403, 401]
        for response in responses:
            for marker in secret_markers:
                assert marker not in response.text, (marker, response.text)


LOG_SCRIPT = r"""
import asyncio, sys
import httpx
from foundation.app import create_app
from foundation.db import Database
from foundation.settings import Settings

async def main():
    database_url, jwks, token, bad = sys.argv[1:5]
    app = create_app(Settings(
        database_url=database_url, profile="test", auth="jwt", auth_jwks=jwks,
        auth_issuer="https://auth.test.local/", auth_audience="iabank-foundation-test",
        log_level="DEBUG", log_json=True, tracing_enabled=False, rate_limit_enabled=False,
    ))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        headers = {"X-Tenant-Id": "tenant-alfa"}
        for value in (token, bad):
            for path in ("/api/v1/tenants/tenant-alfa/themes/current", "/api/v1/design-system/stories"):
                response = await client.get(path, headers={**headers, "Authorization": f"Bearer {value}"})
                print("status", response.status_code, file=sys.stderr)
        response = await client.post(
            "/api/v1/tenant-metrics/tenant-alfa/sc",
            headers={**headers, "Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            content=b'{"samples": [{"code": "SC-002", "value": 1, "collectedAt": "x", "source": "ci",'
                    b' "note": "Bearer ' + token.encode() + b'"}]}',
        )
        print("status", response.status_code, file=sys.stderr)
    await app.state.services[Database].dispose()

asyncio.run(main())
"""


def test_tokens_never_reach_the_logs(
    database_url: str, keys: KeySet, mint: Callable[..., str], tmp_path: Path
) -> None:
    token = mint(tenant=ALFA)
    bad = mint(tenant=ALFA, aud="someone-else")
    script = tmp_path / "log_probe.py"
    script.write_text(LOG_SCRIPT, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script), database_url, str(keys.jwks_path), token, bad],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    statuses = [line.split()[1] for line in result.stderr.splitlines() if line.startswith("status ")]
    assert statuses == ["200", "200", "401", "401", "400"], result.stderr
    output = result.stdout + result.stderr
    assert output.count("\n") >= 5, "the probe should have produced log lines"
    for value in (token, bad):
        for part in value.split("."):
            assert part not in output, "token material found in the logs"
